// image.cpp: walking from an index or manifest to a verified image for one platform.
#include "berth/image/image.hpp"

#include "berth/image/manifest.hpp"
#include "util.hpp"

namespace berth::image {

using detail::invalid;
using detail::with_context;

blob_source::~blob_source() = default;

caf::expected<void> blob_source::fetch_layers(const std::vector<descriptor>& layers) {
  for (size_t i = 0; i < layers.size(); ++i) {
    auto role = fmt::format("layer {}", i);
    if (auto ok = fetch(layers[i], role); !ok)
      return with_context(ok.error(), fmt::format("{} {}", role, layers[i].digest));
  }
  return {};
}

namespace {

// Fetches `d` through `source` and reads it back, verified, from the store.
caf::expected<std::string> fetch_small(const content_store& store, blob_source& source,
                                       const descriptor& d, std::string_view role, uint64_t max) {
  if (d.size > max)
    return invalid("{} {} is {} bytes, more than the limit of {}", role, d.digest, d.size, max);
  if (auto ok = source.fetch(d, role); !ok)
    return with_context(ok.error(), fmt::format("{} {}", role, d.digest));
  auto text = store.read_small(d.digest, max);
  if (!text) return with_context(text.error(), fmt::format("{} {}", role, d.digest));
  return text;
}

caf::expected<resolved_image> resolve(const content_store& store, blob_source& source,
                                      const descriptor& d, const platform& want, size_t depth) {
  switch (kind_of(d.media_type)) {
    case blob_kind::index: {
      if (depth >= max_index_depth)
        return invalid("image indexes are nested more than {} deep", max_index_depth);
      auto text = fetch_small(store, source, d, "index", max_manifest_bytes);
      if (!text) return text.error();
      auto index = parse_index(*text, d.media_type);
      if (!index) return with_context(index.error(), fmt::format("index {}", d.digest));
      auto chosen = select_platform(*index, want);
      if (!chosen) return with_context(chosen.error(), fmt::format("index {}", d.digest));
      return resolve(store, source, *chosen, want, depth + 1);
    }
    case blob_kind::manifest: {
      auto text = fetch_small(store, source, d, "manifest", max_manifest_bytes);
      if (!text) return text.error();
      auto m = parse_manifest(*text, d.media_type);
      if (!m) return with_context(m.error(), fmt::format("manifest {}", d.digest));
      auto config_text = fetch_small(store, source, m->config, "config", max_config_bytes);
      if (!config_text) return config_text.error();
      auto config = parse_image_config(*config_text);
      if (!config) return with_context(config.error(), fmt::format("config {}", m->config.digest));
      if (config->diff_ids.size() != m->layers.size())
        return invalid("manifest {} has {} layers but its config lists {} diff_ids", d.digest,
                       m->layers.size(), config->diff_ids.size());
      resolved_image img;
      img.manifest = d;
      img.config_digest = m->config.digest;
      img.config = std::move(*config);
      if (auto ok = source.fetch_layers(m->layers); !ok) return ok.error();
      for (const auto& layer : m->layers) img.layers_size += layer.size;
      img.layers = std::move(m->layers);
      return img;
    }
    default:
      if (d.media_type == media_type::docker_manifest_v1 ||
          d.media_type == media_type::docker_manifest_v1_signed)
        return make_error(errc::unsupported, "Docker schema 1 manifests are not supported");
      return make_error(errc::unsupported,
                        fmt::format("{}: unsupported media type '{}' (not an image manifest or "
                                    "index)",
                                    d.digest, d.media_type.substr(0, 200)));
  }
}

}  // namespace

caf::expected<resolved_image> resolve_image(const content_store& store, blob_source& source,
                                            const descriptor& root, const platform& want) {
  auto img = resolve(store, source, root, want, 0);
  if (img) img->root_digest = root.digest;
  return img;
}

}  // namespace berth::image
