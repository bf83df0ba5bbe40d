// log_options.cpp: reading --log-opt values and spelling sizes the way they are given.
#include "berth/rpc/api/log_options.hpp"

#include <cctype>

namespace berth::api {

namespace {

// A size in Docker's json-file units: digits, an optional fraction, an optional k/m/g (decimal)
// and an optional b. nullopt when malformed or out of range.
std::optional<uint64_t> parse_size(const std::string& text) {
  std::size_t i = 0;
  uint64_t whole = 0;
  std::size_t digits = 0;
  for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++digits) {
    if (whole > max_log_max_size) return std::nullopt;  // stops runaway digits early
    whole = whole * 10 + static_cast<uint64_t>(text[i] - '0');
  }
  if (digits == 0) return std::nullopt;
  // The fraction, in millionths: enough for any unit up to g to come out whole or truncated.
  uint64_t micro = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    std::size_t frac = 0;
    for (; i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])); ++i, ++frac)
      if (frac < 6) micro = micro * 10 + static_cast<uint64_t>(text[i] - '0');
    if (frac == 0) return std::nullopt;
    for (; frac < 6; ++frac) micro *= 10;
  }
  uint64_t unit = 1;
  if (i < text.size()) {
    switch (std::tolower(static_cast<unsigned char>(text[i]))) {
      case 'k':
        unit = 1000;
        ++i;
        break;
      case 'm':
        unit = 1000 * 1000;
        ++i;
        break;
      case 'g':
        unit = 1000 * 1000 * 1000;
        ++i;
        break;
      default:
        break;
    }
  }
  if (i < text.size() && std::tolower(static_cast<unsigned char>(text[i])) == 'b') ++i;
  if (i != text.size()) return std::nullopt;
  if (whole > max_log_max_size / unit) return std::nullopt;
  return whole * unit + micro * unit / 1000000;
}

}  // namespace

log_config effective_log_config(log_config config) {
  if (config.max_size == 0) config.max_size = default_log_max_size;
  if (config.max_file == 0) config.max_file = default_log_max_file;
  return config;
}

std::optional<log_config> parse_log_options(const std::map<std::string, std::string>& opts,
                                            std::string& why) {
  log_config config = effective_log_config({});
  for (auto& [key, value] : opts) {
    if (key == "max-size") {
      auto size = parse_size(value);
      if (!size) {
        why = "invalid --log-opt max-size=" + value +
              ": use a number with an optional unit k, m or g (10m)";
        return std::nullopt;
      }
      if (*size < min_log_max_size || *size > max_log_max_size) {
        why = "invalid --log-opt max-size=" + value + ": it must be from " +
              format_log_size(min_log_max_size) + " to " + format_log_size(max_log_max_size);
        return std::nullopt;
      }
      config.max_size = *size;
    } else if (key == "max-file") {
      bool digits = !value.empty() && value.size() <= 3 &&
                    value.find_first_not_of("0123456789") == std::string::npos;
      auto n = digits ? std::stoul(value) : 0;
      if (n < 1 || n > max_log_max_file) {
        why = "invalid --log-opt max-file=" + value + ": it must be a number from 1 to " +
              std::to_string(max_log_max_file);
        return std::nullopt;
      }
      config.max_file = static_cast<uint32_t>(n);
    } else {
      why = "unknown log option \"" + key + "\": berth's log takes max-size and max-file";
      return std::nullopt;
    }
  }
  return config;
}

std::string format_log_size(uint64_t bytes) {
  if (bytes == 0) return "0";
  for (auto [unit, suffix] : {std::pair<uint64_t, const char*>{1000ull * 1000 * 1000, "g"},
                              {1000ull * 1000, "m"},
                              {1000ull, "k"}})
    if (bytes % unit == 0) return std::to_string(bytes / unit) + suffix;
  return std::to_string(bytes);
}

}  // namespace berth::api
