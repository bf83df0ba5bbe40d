// json_fields: typed, checked access to fields of hostile JSON documents, and descriptors.
#pragma once

#include "berth/image/descriptor.hpp"

#include <caf/expected.hpp>
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace berth::image::detail {

/// The string at `key` of object `obj`: empty if absent or null, invalid_argument (naming
/// `where`) if another type.
caf::expected<std::string> string_field(const nlohmann::json& obj, std::string_view key,
                                        std::string_view where);

/// The string-to-string map at `key`: empty if absent or null.
caf::expected<std::map<std::string, std::string>> string_map_field(const nlohmann::json& obj,
                                                                   std::string_view key,
                                                                   std::string_view where);

/// The array of strings at `key`: empty if absent or null.
caf::expected<std::vector<std::string>> string_array_field(const nlohmann::json& obj,
                                                           std::string_view key,
                                                           std::string_view where);

/// Parses a descriptor object; invalid_argument naming `where` if malformed.
caf::expected<descriptor> parse_descriptor(const nlohmann::json& j, std::string_view where);

/// The type name of `j` for error messages ("a string", "null", ...).
std::string_view type_name(const nlohmann::json& j);

}  // namespace berth::image::detail
