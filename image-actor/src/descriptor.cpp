// descriptor.cpp: media type classes, platforms, and parsing descriptors out of JSON.
#include "berth/image/descriptor.hpp"

#include "berth/image/digest.hpp"
#include "json_fields.hpp"
#include "util.hpp"

namespace berth::image {

namespace mt = media_type;

blob_kind kind_of(std::string_view type) {
  if (type == mt::oci_index || type == mt::docker_manifest_list) return blob_kind::index;
  if (type == mt::oci_manifest || type == mt::docker_manifest) return blob_kind::manifest;
  if (type == mt::oci_config || type == mt::docker_config) return blob_kind::config;
  if (layer_compression(type)) return blob_kind::layer;
  return blob_kind::unknown;
}

caf::expected<compression> layer_compression(std::string_view type) {
  if (type == mt::oci_layer || type == mt::docker_layer) return compression::none;
  if (type == mt::oci_layer_gzip || type == mt::docker_layer_gzip) return compression::gzip;
  if (type == mt::oci_layer_zstd || type == mt::docker_layer_zstd) return compression::zstd;
  if (type == mt::docker_layer_foreign || type.find(".nondistributable.") != std::string_view::npos)
    return make_error(errc::unsupported,
                      fmt::format("foreign (non-distributable) layers are not supported: {}",
                                  type.substr(0, 200)));
  return make_error(errc::unsupported,
                    fmt::format("unsupported layer media type '{}'", type.substr(0, 200)));
}

namespace {

std::string lower(std::string_view s) {
  std::string out{s};
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Normalizes the names tools use for the same CPU, as containerd's platforms package does.
platform normalize(const platform& p) {
  platform out{lower(p.os), lower(p.architecture), lower(p.variant)};
  auto& arch = out.architecture;
  if (arch == "x86_64" || arch == "x86-64")
    arch = "amd64";
  else if (arch == "i386" || arch == "i686")
    arch = "386";
  else if (arch == "aarch64")
    arch = "arm64";
  else if (arch == "armhf")
    arch = "arm", out.variant = out.variant.empty() ? "v7" : out.variant;
  else if (arch == "armel")
    arch = "arm", out.variant = out.variant.empty() ? "v6" : out.variant;
  if (arch == "arm64" && out.variant == "v8") out.variant.clear();
  return out;
}

}  // namespace

std::string platform::to_string() const {
  auto out = os + "/" + architecture;
  if (!variant.empty()) out += "/" + variant;
  return out;
}

platform default_platform() {
  return platform{"linux", "amd64", ""};
}

caf::expected<platform> parse_platform(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    auto slash = text.find('/', start);
    parts.push_back(text.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  auto bad = [&] {
    return detail::invalid("invalid platform '{}': expected os/architecture[/variant]",
                           text.substr(0, 100));
  };
  if (parts.size() < 2 || parts.size() > 3) return bad();
  for (auto part : parts) {
    if (part.empty() || part.size() > 32) return bad();
    for (char c : part) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-' || c == '.';
      if (!ok) return bad();
    }
  }
  platform p{std::string{parts[0]}, std::string{parts[1]},
             parts.size() == 3 ? std::string{parts[2]} : std::string{}};
  return normalize(p);
}

bool platform_matches(const platform& have, const platform& want) {
  auto h = normalize(have);
  auto w = normalize(want);
  if (h.os != w.os || h.architecture != w.architecture) return false;
  return w.variant.empty() || h.variant == w.variant;
}

namespace detail {

std::string_view type_name(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return "null";
    case nlohmann::json::value_t::object:
      return "an object";
    case nlohmann::json::value_t::array:
      return "an array";
    case nlohmann::json::value_t::string:
      return "a string";
    case nlohmann::json::value_t::boolean:
      return "a boolean";
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
    case nlohmann::json::value_t::number_float:
      return "a number";
    default:
      return "an unknown value";
  }
}

caf::expected<std::string> string_field(const nlohmann::json& obj, std::string_view key,
                                        std::string_view where) {
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null()) return std::string{};
  if (!i->is_string()) return invalid("{}: '{}' is {}, not a string", where, key, type_name(*i));
  return i->get<std::string>();
}

caf::expected<std::map<std::string, std::string>> string_map_field(const nlohmann::json& obj,
                                                                   std::string_view key,
                                                                   std::string_view where) {
  std::map<std::string, std::string> out;
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null()) return out;
  if (!i->is_object()) return invalid("{}: '{}' is {}, not an object", where, key, type_name(*i));
  for (auto& [k, v] : i->items()) {
    if (!v.is_string())
      return invalid("{}: '{}' entry '{}' is {}, not a string", where, key, k, type_name(v));
    out.emplace(k, v.get<std::string>());
  }
  return out;
}

caf::expected<std::vector<std::string>> string_array_field(const nlohmann::json& obj,
                                                           std::string_view key,
                                                           std::string_view where) {
  std::vector<std::string> out;
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null()) return out;
  if (!i->is_array()) return invalid("{}: '{}' is {}, not an array", where, key, type_name(*i));
  out.reserve(i->size());
  for (auto& v : *i) {
    if (!v.is_string())
      return invalid("{}: '{}' has {} where a string belongs", where, key, type_name(v));
    out.push_back(v.get<std::string>());
  }
  return out;
}

caf::expected<descriptor> parse_descriptor(const nlohmann::json& j, std::string_view where) {
  if (!j.is_object()) return invalid("{} is {}, not a descriptor object", where, type_name(j));
  descriptor d;
  auto media_type = string_field(j, "mediaType", where);
  if (!media_type) return media_type.error();
  if (media_type->empty()) return invalid("{} has no mediaType", where);
  d.media_type = std::move(*media_type);
  auto digest = string_field(j, "digest", where);
  if (!digest) return digest.error();
  if (auto ok = check_digest(*digest); !ok) return with_context(ok.error(), where);
  d.digest = std::move(*digest);
  auto size = j.find("size");
  if (size == j.end() || !(size->is_number_unsigned() || size->is_number_integer()))
    return invalid("{} has no integer size", where);
  if (size->is_number_integer() && size->get<int64_t>() < 0)
    return invalid("{} has a negative size", where);
  d.size = size->get<uint64_t>();
  auto annotations = string_map_field(j, "annotations", where);
  if (!annotations) return annotations.error();
  d.annotations = std::move(*annotations);
  if (auto p = j.find("platform"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return invalid("{}: platform is {}, not an object", where, type_name(*p));
    auto os = string_field(*p, "os", where);
    auto arch = string_field(*p, "architecture", where);
    auto variant = string_field(*p, "variant", where);
    if (!os) return os.error();
    if (!arch) return arch.error();
    if (!variant) return variant.error();
    d.platform = platform{std::move(*os), std::move(*arch), std::move(*variant)};
  }
  return d;
}

}  // namespace detail

}  // namespace berth::image
