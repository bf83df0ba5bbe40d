// format.cpp: human-readable sizes, durations and times.
#include "format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iterator>
#include <stdexcept>
#include <utility>

namespace berth::cli {

std::string human_duration(int64_t seconds) {
  if (seconds < 1) return "Less than a second";
  if (seconds == 1) return "1 second";
  if (seconds < 60) return std::to_string(seconds) + " seconds";
  auto minutes = seconds / 60;
  if (minutes == 1) return "About a minute";
  if (minutes < 60) return std::to_string(minutes) + " minutes";
  auto hours = seconds / 3600;
  if (hours == 1) return "About an hour";
  if (hours < 48) return std::to_string(hours) + " hours";
  if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
  if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
  return std::to_string(hours / 24 / 365) + " years";
}

std::string human_size(uint64_t bytes) {
  static constexpr const char* units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1000.0 && u < 5) {
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%.0f%s", v, units[u]);
  else
    std::snprintf(buf, sizeof buf, "%.3g%s", v, units[u]);
  return buf;
}

int64_t parse_memory(const std::string& text) {
  if (text.empty()) throw std::invalid_argument("empty size");
  std::size_t pos = 0;
  double value = std::stod(text, &pos);
  auto unit = text.substr(pos);
  if (!unit.empty() && (unit.back() == 'b' || unit.back() == 'B') && unit.size() == 2)
    unit.pop_back();
  double mult = 1;
  if (unit.empty() || unit == "b" || unit == "B")
    mult = 1;
  else if (unit == "k" || unit == "K")
    mult = 1024.0;
  else if (unit == "m" || unit == "M")
    mult = 1024.0 * 1024;
  else if (unit == "g" || unit == "G")
    mult = 1024.0 * 1024 * 1024;
  else if (unit == "t" || unit == "T")
    mult = 1024.0 * 1024 * 1024 * 1024;
  else
    throw std::invalid_argument("unknown size unit in " + text);
  if (value < 0 || !std::isfinite(value)) throw std::invalid_argument("invalid size " + text);
  return static_cast<int64_t>(value * mult);
}

int64_t parse_duration(const std::string& text) {
  auto bad = [&] { return std::invalid_argument("invalid duration \"" + text + "\""); };
  std::size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) negative = text[i++] == '-';
  if (text.substr(i) == "0") return 0;
  if (i == text.size()) throw bad();
  static constexpr std::pair<const char*, int64_t> units[] = {
      {"ns", 1},         {"us", 1'000},        {"\u00b5s", 1'000},    {"\u03bcs", 1'000},
      {"ms", 1'000'000}, {"s", 1'000'000'000}, {"m", 60'000'000'000}, {"h", 3'600'000'000'000}};
  long double total = 0;
  while (i < text.size()) {
    // A number, with an optional fraction: "1", "1.5", ".5", "1.".
    auto start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    bool whole = i > start;
    long double value = whole ? std::stold(text.substr(start, i - start)) : 0;
    if (i < text.size() && text[i] == '.') {
      auto frac_start = ++i;
      long double scale = 1;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        scale /= 10;
        value += (text[i] - '0') * scale;
        ++i;
      }
      if (!whole && i == frac_start) throw bad();
    } else if (!whole) {
      throw bad();
    }
    auto unit_start = i;
    while (i < text.size() && text[i] != '.' && (text[i] < '0' || text[i] > '9')) ++i;
    auto unit = text.substr(unit_start, i - unit_start);
    auto u =
        std::find_if(std::begin(units), std::end(units), [&](auto& x) { return unit == x.first; });
    if (u == std::end(units)) throw bad();  // a missing or unknown unit
    total += value * static_cast<long double>(u->second);
    if (total > static_cast<long double>(INT64_MAX)) throw bad();
  }
  auto ns = static_cast<int64_t>(total + 0.5L);
  return negative ? -ns : ns;
}

std::string status_text(const std::string& state, int32_t exit_code, int64_t started,
                        int64_t finished, int64_t now, const std::string& health) {
  auto secs = [](int64_t ns) { return ns / 1000000000; };
  if (state == "running") {
    auto up = "Up " + human_duration(secs(now - started));
    if (health.empty()) return up;
    return up + (health == "starting" ? " (health: starting)" : " (" + health + ")");
  }
  if (state == "starting") return "Starting";
  if (state == "stopping") return "Stopping";
  if (state == "exited")
    return "Exited (" + std::to_string(exit_code) + ") " + human_duration(secs(now - finished)) +
           " ago";
  return "Created";
}

std::string rfc3339(int64_t unix_ns) {
  if (unix_ns <= 0) return "0001-01-01T00:00:00Z";
  std::time_t secs = static_cast<std::time_t>(unix_ns / 1000000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(unix_ns % 1000000000));
  return buf;
}

std::string command_text(const std::vector<std::string>& args, std::size_t width) {
  std::string joined;
  for (auto& a : args) {
    if (!joined.empty()) joined += ' ';
    joined += a;
  }
  std::string out = "\"" + joined;
  if (out.size() + 1 > width && width > 4) out = out.substr(0, width - 4) + "…";
  return out + "\"";
}

}  // namespace berth::cli
