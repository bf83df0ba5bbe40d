// manifest.cpp: parsing image manifests and indexes, and choosing a platform from an index.
#include "berth/image/manifest.hpp"

#include "json_fields.hpp"
#include "util.hpp"

#include <algorithm>

namespace berth::image {

namespace mt = media_type;
using detail::invalid;

namespace {

// Checks schemaVersion and reconciles the media type the descriptor claims with the one the
// document states; returns the type that applies.
caf::expected<std::string> document_type(const nlohmann::json& j, std::string_view claimed,
                                         std::string_view what) {
  if (!j.is_object()) return invalid("{} is {}, not an object", what, detail::type_name(j));
  auto version = j.find("schemaVersion");
  if (version == j.end() || !version->is_number_integer())
    return invalid("{} has no integer schemaVersion", what);
  if (version->get<int64_t>() == 1)
    return make_error(errc::unsupported, "Docker schema 1 manifests are not supported");
  if (version->get<int64_t>() != 2)
    return make_error(errc::unsupported,
                      fmt::format("{} has schemaVersion {}, not 2", what, version->get<int64_t>()));
  auto stated = detail::string_field(j, "mediaType", what);
  if (!stated) return stated.error();
  if (!claimed.empty() && !stated->empty() && *stated != claimed)
    return invalid("{} says it is '{}' but its descriptor says '{}'", what, *stated, claimed);
  std::string type{claimed.empty() ? std::string_view{*stated} : claimed};
  if (type.empty()) {
    // OCI lets both leave mediaType out; the fields tell them apart.
    if (j.contains("manifests"))
      type = mt::oci_index;
    else
      type = mt::oci_manifest;
  }
  if (type == mt::docker_manifest_v1 || type == mt::docker_manifest_v1_signed)
    return make_error(errc::unsupported, "Docker schema 1 manifests are not supported");
  return type;
}

}  // namespace

caf::expected<manifest> parse_manifest(std::string_view json, std::string_view type) {
  auto j = detail::parse_json(json, max_manifest_bytes, "manifest");
  if (!j) return j.error();
  auto t = document_type(*j, type, "manifest");
  if (!t) return t.error();
  auto kind = kind_of(*t);
  if (kind == blob_kind::index)
    return invalid("expected an image manifest, found an index ({})", *t);
  if (kind != blob_kind::manifest)
    return make_error(errc::unsupported,
                      fmt::format("unsupported manifest media type '{}'", t->substr(0, 200)));
  // A document with both shapes could mean different things to different readers.
  if (j->contains("manifests")) return invalid("manifest has a 'manifests' field");
  manifest m;
  m.media_type = std::move(*t);
  auto config = j->find("config");
  if (config == j->end()) return invalid("manifest has no config");
  auto cd = detail::parse_descriptor(*config, "manifest config");
  if (!cd) return cd.error();
  if (kind_of(cd->media_type) != blob_kind::config)
    return make_error(errc::unsupported,
                      fmt::format("not a container image: config media type '{}'",
                                  cd->media_type.substr(0, 200)));
  m.config = std::move(*cd);
  auto layers = j->find("layers");
  if (layers == j->end() || !layers->is_array()) return invalid("manifest has no layers array");
  if (layers->size() > max_layers)
    return invalid("manifest has {} layers, more than the limit of {}", layers->size(), max_layers);
  m.layers.reserve(layers->size());
  for (size_t i = 0; i < layers->size(); ++i) {
    auto where = fmt::format("layer {}", i);
    auto d = detail::parse_descriptor((*layers)[i], where);
    if (!d) return d.error();
    if (auto c = layer_compression(d->media_type); !c)
      return detail::with_context(c.error(), where);
    m.layers.push_back(std::move(*d));
  }
  auto annotations = detail::string_map_field(*j, "annotations", "manifest");
  if (!annotations) return annotations.error();
  m.annotations = std::move(*annotations);
  return m;
}

caf::expected<image_index> parse_index(std::string_view json, std::string_view type) {
  auto j = detail::parse_json(json, max_manifest_bytes, "index");
  if (!j) return j.error();
  auto t = document_type(*j, type, "index");
  if (!t) return t.error();
  auto kind = kind_of(*t);
  if (kind == blob_kind::manifest)
    return invalid("expected an image index, found a manifest ({})", *t);
  if (kind != blob_kind::index)
    return make_error(errc::unsupported,
                      fmt::format("unsupported index media type '{}'", t->substr(0, 200)));
  if (j->contains("config") || j->contains("layers"))
    return invalid("index has a 'config' or 'layers' field");
  image_index index;
  index.media_type = std::move(*t);
  auto manifests = j->find("manifests");
  if (manifests == j->end() || !manifests->is_array())
    return invalid("index has no manifests array");
  if (manifests->size() > max_index_entries)
    return invalid("index has {} entries, more than the limit of {}", manifests->size(),
                   max_index_entries);
  index.manifests.reserve(manifests->size());
  for (size_t i = 0; i < manifests->size(); ++i) {
    auto d = detail::parse_descriptor((*manifests)[i], fmt::format("index entry {}", i));
    if (!d) return d.error();
    index.manifests.push_back(std::move(*d));
  }
  auto annotations = detail::string_map_field(*j, "annotations", "index");
  if (!annotations) return annotations.error();
  index.annotations = std::move(*annotations);
  return index;
}

caf::expected<descriptor> select_platform(const image_index& index, const platform& want) {
  std::vector<std::string> offered;
  for (const auto& d : index.manifests) {
    auto kind = kind_of(d.media_type);
    if (!d.platform || (kind != blob_kind::manifest && kind != blob_kind::index)) continue;
    // buildx lists attestations as manifests for the platform "unknown/unknown".
    if (auto i = d.annotations.find("vnd.docker.reference.type");
        i != d.annotations.end() && i->second == "attestation-manifest")
      continue;
    if (platform_matches(*d.platform, want)) return d;
    auto name = d.platform->to_string();
    if (std::find(offered.begin(), offered.end(), name) == offered.end()) offered.push_back(name);
  }
  if (offered.empty())
    return make_error(
        errc::no_such_platform,
        fmt::format("no image for {}: the index names no platform", want.to_string()));
  return make_error(
      errc::no_such_platform,
      fmt::format("no image for {}; available: {}", want.to_string(), fmt::join(offered, ", ")));
}

}  // namespace berth::image
