// log.cpp: the line format and the process-wide threshold.
#include "berth/actors/log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>

namespace berth::log {

namespace {

level initial_threshold() {
  level lvl = level::info;
  if (const char* env = std::getenv("BERTH_LOG")) parse_level(env, lvl);
  return lvl;
}

std::atomic<int>& threshold_value() {
  static std::atomic<int> value{static_cast<int>(initial_threshold())};
  return value;
}

constexpr std::string_view names[] = {"debug", "info ", "warn ", "error"};

}  // namespace

void set_threshold(level lvl) {
  threshold_value().store(static_cast<int>(lvl));
}

level threshold() {
  return static_cast<level>(threshold_value().load(std::memory_order_relaxed));
}

bool parse_level(std::string_view text, level& out) {
  if (text == "debug")
    out = level::debug;
  else if (text == "info")
    out = level::info;
  else if (text == "warn")
    out = level::warn;
  else if (text == "error")
    out = level::error;
  else
    return false;
  return true;
}

void write(level lvl, std::string_view component, std::string_view text) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  auto line = fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {} {:<6} {}\n",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, ms, names[static_cast<int>(lvl)], component, text);
  // One write per line; a short write to stderr is not worth retrying for a log.
  [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace berth::log
