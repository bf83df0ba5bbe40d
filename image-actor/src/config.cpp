// config.cpp: parsing OCI and Docker image configs, and RFC 3339 times.
#include "berth/image/config.hpp"

#include "berth/image/digest.hpp"
#include "json_fields.hpp"
#include "util.hpp"

#include <algorithm>
#include <cstdint>

namespace berth::image {

using detail::invalid;

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_leap(int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

// Entrypoint and Cmd: null or absent is "not set"; Docker also takes a single string.
caf::expected<void> command_field(const nlohmann::json& obj, std::string_view key,
                                  std::vector<std::string>& out, bool& set) {
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null()) return {};
  if (i->is_string()) {
    out = {i->get<std::string>()};
    set = true;
    return {};
  }
  auto values = detail::string_array_field(obj, key, "image config");
  if (!values) return values.error();
  out = std::move(*values);
  set = true;
  return {};
}

// ExposedPorts and Volumes: objects whose keys are the values ({"80/tcp": {}}).
caf::expected<std::vector<std::string>> key_set(const nlohmann::json& obj, std::string_view key) {
  std::vector<std::string> out;
  auto i = obj.find(key);
  if (i == obj.end() || i->is_null()) return out;
  if (!i->is_object())
    return invalid("image config: '{}' is {}, not an object", key, detail::type_name(*i));
  for (auto& [k, v] : i->items()) out.push_back(k);
  return out;
}

// A Healthcheck duration: a non-negative integer of ns, at least 1 ms (Docker's minimum) unless
// 0; anything else reads as 0, the default.
int64_t health_duration(const nlohmann::json& obj, std::string_view key) {
  auto i = obj.find(key);
  if (i == obj.end()) return 0;
  int64_t v = 0;
  if (i->is_number_unsigned()) {
    auto u = i->get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return 0;
    v = static_cast<int64_t>(u);
  } else if (i->is_number_integer()) {
    v = i->get<int64_t>();
  } else {
    return 0;
  }
  return v >= 1'000'000 ? v : 0;
}

// Healthcheck: read field by field; a field of the wrong shape is dropped, never fatal.
image_healthcheck healthcheck_of(const nlohmann::json& cfg) {
  image_healthcheck h;
  auto i = cfg.find("Healthcheck");
  if (i == cfg.end() || !i->is_object()) return h;
  if (auto t = i->find("Test");
      t != i->end() && t->is_array() && !t->empty() &&
      std::all_of(t->begin(), t->end(), [](auto& e) { return e.is_string(); })) {
    for (auto& e : *t) h.test.push_back(e.template get<std::string>());
  }
  h.interval = health_duration(*i, "Interval");
  h.timeout = health_duration(*i, "Timeout");
  h.start_period = health_duration(*i, "StartPeriod");
  if (auto r = i->find("Retries"); r != i->end() && r->is_number_integer()) {
    if (r->is_number_unsigned() ? r->get<uint64_t>() <= static_cast<uint64_t>(INT32_MAX)
                                : r->get<int64_t>() >= 0 && r->get<int64_t>() <= INT32_MAX)
      h.retries = static_cast<int32_t>(r->get<int64_t>());
  }
  return h;
}

}  // namespace

caf::expected<int64_t> parse_rfc3339(std::string_view s) {
  auto bad = [&] { return invalid("invalid time '{}': expected RFC 3339", s.substr(0, 64)); };
  size_t i = 0;
  auto digits = [&](size_t n, int64_t& out) {
    if (i + n > s.size()) return false;
    out = 0;
    for (size_t k = 0; k < n; ++k, ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      out = out * 10 + (s[i] - '0');
    }
    return true;
  };
  auto expect = [&](char c) {
    if (i >= s.size() || s[i] != c) return false;
    ++i;
    return true;
  };
  int64_t year, month, day, hour, minute, second;
  if (!digits(4, year) || !expect('-') || !digits(2, month) || !expect('-') || !digits(2, day))
    return bad();
  if (i >= s.size() || (s[i] != 'T' && s[i] != 't')) return bad();
  ++i;
  if (!digits(2, hour) || !expect(':') || !digits(2, minute) || !expect(':') || !digits(2, second))
    return bad();
  static constexpr int month_days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) return bad();
  if (day > month_days[month - 1] + (month == 2 && is_leap(year) ? 1 : 0)) return bad();
  if (hour > 23 || minute > 59 || second > 59) return bad();
  if (i < s.size() && s[i] == '.') {
    ++i;
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    if (i == start) return bad();
  }
  int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int64_t sign = s[i] == '-' ? -1 : 1;
    ++i;
    int64_t oh, om;
    if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return bad();
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return bad();
  }
  if (i != s.size()) return bad();
  // Go's zero time, which Docker writes for "never": read it as absent.
  if (year == 1 && month == 1 && day == 1 && hour == 0 && minute == 0 && second == 0 && offset == 0)
    return int64_t{0};
  return days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
         hour * 3600 + minute * 60 + second - offset;
}

caf::expected<image_config> parse_image_config(std::string_view json) {
  auto j = detail::parse_json(json, max_config_bytes, "image config");
  if (!j) return j.error();
  if (!j->is_object()) return invalid("image config is {}, not an object", detail::type_name(*j));
  image_config c;
  constexpr std::string_view where = "image config";
  for (auto [key, field] : {std::pair{"os", &c.os}, std::pair{"architecture", &c.architecture},
                            std::pair{"variant", &c.variant}}) {
    auto value = detail::string_field(*j, key, where);
    if (!value) return value.error();
    *field = std::move(*value);
  }
  auto created = detail::string_field(*j, "created", where);
  if (!created) return created.error();
  if (!created->empty()) {
    auto t = parse_rfc3339(*created);
    if (!t) return detail::with_context(t.error(), "image config: created");
    c.created = *t;
  }
  if (auto cfg = j->find("config"); cfg != j->end() && !cfg->is_null()) {
    if (!cfg->is_object())
      return invalid("image config: 'config' is {}, not an object", detail::type_name(*cfg));
    if (auto ok = command_field(*cfg, "Entrypoint", c.entrypoint, c.entrypoint_set); !ok)
      return ok.error();
    if (auto ok = command_field(*cfg, "Cmd", c.cmd, c.cmd_set); !ok) return ok.error();
    auto env = detail::string_array_field(*cfg, "Env", where);
    if (!env) return env.error();
    c.env = std::move(*env);
    for (auto [key, field] : {std::pair{"WorkingDir", &c.working_dir}, std::pair{"User", &c.user},
                              std::pair{"StopSignal", &c.stop_signal}}) {
      auto value = detail::string_field(*cfg, key, where);
      if (!value) return value.error();
      *field = std::move(*value);
    }
    auto ports = key_set(*cfg, "ExposedPorts");
    if (!ports) return ports.error();
    c.exposed_ports = std::move(*ports);
    auto volumes = key_set(*cfg, "Volumes");
    if (!volumes) return volumes.error();
    c.volumes = std::move(*volumes);
    auto labels = detail::string_map_field(*cfg, "Labels", where);
    if (!labels) return labels.error();
    c.labels = std::move(*labels);
    c.healthcheck = healthcheck_of(*cfg);
  }
  auto rootfs = j->find("rootfs");
  if (rootfs == j->end() || !rootfs->is_object()) return invalid("image config has no rootfs");
  auto type = detail::string_field(*rootfs, "type", "image config rootfs");
  if (!type) return type.error();
  if (*type != "layers")
    return invalid("image config: rootfs type is '{}', not 'layers'", type->substr(0, 64));
  auto diff_ids = detail::string_array_field(*rootfs, "diff_ids", "image config rootfs");
  if (!diff_ids) return diff_ids.error();
  for (const auto& id : *diff_ids)
    if (auto ok = check_digest(id); !ok)
      return detail::with_context(ok.error(), "image config diff_ids");
  c.diff_ids = std::move(*diff_ids);
  return c;
}

}  // namespace berth::image
