// ps_filter.cpp: parsing and applying ps filters.
#include "ps_filter.hpp"

#include "error.hpp"
#include "reference.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace berth::cli {

namespace {

// Docker's container states, and berth's own two in between.
constexpr std::array<std::string_view, 9> statuses = {"created",  "restarting", "running",
                                                      "removing", "paused",     "exited",
                                                      "dead",     "starting",   "stopping"};

constexpr std::array<std::string_view, 4> healths = {"healthy", "unhealthy", "starting", "none"};

constexpr std::array<std::string_view, 8> keys = {"status",  "name",   "id",     "ancestor",
                                                  "network", "health", "exited", "label"};

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& set, const std::string& v) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

bool is_exit_code(const std::string& v) {
  auto digits = v.size() > 1 && v[0] == '-' ? v.substr(1) : v;
  return !digits.empty() && digits.size() <= 9 &&
         digits.find_first_not_of("0123456789") == std::string::npos;
}

std::string without_digest_prefix(const std::string& id) {
  return id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
}

bool is_hex(const std::string& v) {
  return !v.empty() && v.find_first_not_of("0123456789abcdef") == std::string::npos;
}

}  // namespace

ps_filter ps_filter::parse(const std::vector<std::string>& items) {
  ps_filter out;
  for (auto& item : items) {
    auto eq = item.find('=');
    if (eq == std::string::npos) throw cli_error(1, "bad format of filter (expected name=value)");
    auto key = item.substr(0, eq);
    auto value = item.substr(eq + 1);
    if (!one_of(keys, key)) throw cli_error(1, "invalid filter '" + key + "'");
    bool valid = key == "status"   ? one_of(statuses, value)
                 : key == "health" ? one_of(healths, value)
                 : key == "exited" ? is_exit_code(value)
                 : key == "label"  ? !value.empty() && value[0] != '='
                                   : true;
    if (!valid) throw cli_error(1, "invalid filter '" + item + "'");
    out.values_[key].push_back(value);
  }
  return out;
}

bool ps_filter::matches(const api::container_info& c) const {
  for (auto& [key, values] : values_) {
    auto one = [&](const std::string& v) { return matches_one(key, v, c); };
    // As Docker: every label filter must hold; the values of any other key are alternatives.
    if (key == "label" ? !std::all_of(values.begin(), values.end(), one)
                       : std::none_of(values.begin(), values.end(), one))
      return false;
  }
  return true;
}

bool ps_filter::matches_one(const std::string& key, const std::string& value,
                            const api::container_info& c) const {
  if (key == "status") return c.state == value;
  if (key == "name") return c.name.find(value) != std::string::npos;
  if (key == "id") return c.id.rfind(value, 0) == 0;
  if (key == "health") return (c.health.status.empty() ? "none" : c.health.status) == value;
  if (key == "exited") return c.state == "exited" && std::stoi(value) == c.exit_code;
  if (key == "label") {
    // KEY: the container has the label, whatever its value; KEY=VALUE: with exactly that value.
    auto eq = value.find('=');
    auto it = c.labels.find(value.substr(0, eq));
    return it != c.labels.end() && (eq == std::string::npos || it->second == value.substr(eq + 1));
  }
  if (key == "network") {
    if (c.network_mode == value && (value == "none" || value == "user")) return true;
    return std::any_of(c.networks.begin(), c.networks.end(),
                       [&](const api::endpoint& e) { return e.network == value; });
  }
  // ancestor: the image as a reference, or a prefix of its id.
  if (full_reference(value) == full_reference(c.image)) return true;
  auto id = without_digest_prefix(value);
  return is_hex(id) && without_digest_prefix(c.image_id).rfind(id, 0) == 0;
}

}  // namespace berth::cli
