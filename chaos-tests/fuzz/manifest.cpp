// manifest: fuzzes the parsers of the JSON documents a registry or an OCI archive hands berthd:
// image manifests, image indexes (Docker manifest lists), image configs, platforms and times.
//
// Every input goes to every parser, with and without the media type a descriptor would claim.
// Checked: no crash, leak or undefined behaviour, and no exception (the parsers return errors);
// what a parser accepts respects its limits (layer and entry counts, valid digests); a parsed
// manifest, index or config written back as JSON parses to the same value; platform selection
// only answers an entry of the index that matches; a parsed platform is normalized (parsing its
// text gives it back).
#include "berth/image/manifest.hpp"
#include "berth/image/config.hpp"
#include "berth/image/descriptor.hpp"
#include "berth/image/digest.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace image = berth::image;
namespace mt = berth::image::media_type;
using nlohmann::json;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "manifest: invariant broken: %s\n", what);
    std::abort();
  }
}

json to_json(const image::descriptor& d) {
  json j = {{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform)
    j["platform"] = {{"os", d.platform->os},
                     {"architecture", d.platform->architecture},
                     {"variant", d.platform->variant}};
  return j;
}

void check_descriptor(const image::descriptor& d) {
  require(image::is_digest(d.digest), "an accepted descriptor has an invalid digest");
  require(!d.media_type.empty(), "an accepted descriptor has no media type");
}

void check_manifest(const image::manifest& m) {
  require(image::kind_of(m.media_type) == image::blob_kind::manifest,
          "an accepted manifest is not of a manifest media type");
  require(m.layers.size() <= image::max_layers, "an accepted manifest has too many layers");
  check_descriptor(m.config);
  require(image::kind_of(m.config.media_type) == image::blob_kind::config,
          "an accepted manifest's config is not a config");
  for (const auto& l : m.layers) {
    check_descriptor(l);
    require(static_cast<bool>(image::layer_compression(l.media_type)),
            "an accepted manifest has a layer berth cannot unpack");
  }
  json j = {{"schemaVersion", 2},
            {"mediaType", m.media_type},
            {"config", to_json(m.config)},
            {"layers", json::array()}};
  for (const auto& l : m.layers) j["layers"].push_back(to_json(l));
  if (!m.annotations.empty()) j["annotations"] = m.annotations;
  auto again = image::parse_manifest(j.dump(), "");
  require(static_cast<bool>(again), "a manifest written back does not parse");
  require(again->media_type == m.media_type && again->config == m.config &&
              again->layers == m.layers && again->annotations == m.annotations,
          "a manifest written back parses to something else");
}

void check_index(const image::image_index& index) {
  require(image::kind_of(index.media_type) == image::blob_kind::index,
          "an accepted index is not of an index media type");
  require(index.manifests.size() <= image::max_index_entries,
          "an accepted index has too many entries");
  for (const auto& d : index.manifests) check_descriptor(d);
  json j = {{"schemaVersion", 2}, {"mediaType", index.media_type}, {"manifests", json::array()}};
  for (const auto& d : index.manifests) j["manifests"].push_back(to_json(d));
  if (!index.annotations.empty()) j["annotations"] = index.annotations;
  auto again = image::parse_index(j.dump(), "");
  require(static_cast<bool>(again), "an index written back does not parse");
  require(again->media_type == index.media_type && again->manifests == index.manifests &&
              again->annotations == index.annotations,
          "an index written back parses to something else");
  for (const auto& want : {image::default_platform(), image::platform{"linux", "arm64", ""},
                           image::platform{"linux", "arm", "v7"}}) {
    auto chosen = image::select_platform(index, want);
    if (!chosen) continue;
    require(
        std::find(index.manifests.begin(), index.manifests.end(), *chosen) != index.manifests.end(),
        "select_platform answered a descriptor that is not in the index");
    require(chosen->platform && image::platform_matches(*chosen->platform, want),
            "select_platform answered a descriptor for another platform");
  }
}

void check_config(const image::image_config& c) {
  require(c.entrypoint_set || c.entrypoint.empty(), "an unset Entrypoint has values");
  require(c.cmd_set || c.cmd.empty(), "an unset Cmd has values");
  for (const auto& id : c.diff_ids) require(image::is_digest(id), "an accepted diff_id is invalid");
  json cfg = {{"Env", c.env},
              {"WorkingDir", c.working_dir},
              {"User", c.user},
              {"StopSignal", c.stop_signal},
              {"ExposedPorts", json::object()},
              {"Volumes", json::object()},
              {"Labels", c.labels}};
  if (c.entrypoint_set) cfg["Entrypoint"] = c.entrypoint;
  if (c.cmd_set) cfg["Cmd"] = c.cmd;
  for (const auto& p : c.exposed_ports) cfg["ExposedPorts"][p] = json::object();
  for (const auto& v : c.volumes) cfg["Volumes"][v] = json::object();
  json j = {{"os", c.os},
            {"architecture", c.architecture},
            {"variant", c.variant},
            {"config", cfg},
            {"rootfs", {{"type", "layers"}, {"diff_ids", c.diff_ids}}}};
  auto again = image::parse_image_config(j.dump());
  require(static_cast<bool>(again), "a config written back does not parse");
  again->created = c.created;
  require(
      again->os == c.os && again->architecture == c.architecture && again->variant == c.variant &&
          again->entrypoint == c.entrypoint && again->entrypoint_set == c.entrypoint_set &&
          again->cmd == c.cmd && again->cmd_set == c.cmd_set && again->env == c.env &&
          again->working_dir == c.working_dir && again->user == c.user &&
          again->stop_signal == c.stop_signal && again->exposed_ports == c.exposed_ports &&
          again->volumes == c.volumes && again->labels == c.labels && again->diff_ids == c.diff_ids,
      "a config written back parses to something else");
}

void check_platform(std::string_view text) {
  auto p = image::parse_platform(text);
  if (!p) return;
  auto again = image::parse_platform(p->to_string());
  require(again && *again == *p, "a parsed platform is not normalized");
  require(image::platform_matches(*p, *p), "a platform does not match itself");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256u << 10)) return -1;
  std::string_view text{reinterpret_cast<const char*>(data), size};

  for (auto type : {std::string_view{}, mt::oci_manifest, mt::docker_manifest})
    if (auto m = image::parse_manifest(text, type)) check_manifest(*m);
  for (auto type : {std::string_view{}, mt::oci_index, mt::docker_manifest_list})
    if (auto index = image::parse_index(text, type)) check_index(*index);
  if (auto c = image::parse_image_config(text)) check_config(*c);

  // The short strings inside these documents: platforms and times.
  if (size <= 128) {
    check_platform(text);
    (void)image::parse_rfc3339(text);
    (void)image::kind_of(text);
    (void)image::layer_compression(text);
  }
  return 0;
}
