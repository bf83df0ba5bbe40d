// log: one named logger per component, writing structured lines to stderr.
//
// Debian builds CAF with its logging compiled out, so berth logs on its own. A line is
//   2026-11-27T10:45:39.123Z info  vm    container=3f2a... started qemu pid=4242
// written with a single write(2), so lines from several threads never interleave.
#pragma once

#include <fmt/format.h>

#include <atomic>
#include <string_view>

namespace berth::log {

/// Severity of a line; lines below the process-wide threshold are dropped.
enum class level : int { debug = 0, info = 1, warn = 2, error = 3 };

/// Sets the process-wide threshold (default: info, or BERTH_LOG=debug|info|warn|error).
void set_threshold(level lvl);

/// The process-wide threshold.
level threshold();

/// Parses "debug", "info", "warn" or "error"; false if `text` is none of them.
bool parse_level(std::string_view text, level& out);

/// Writes one formatted line; the building block of logger.
void write(level lvl, std::string_view component, std::string_view text);

/// A named logger: `inline log::logger vm_log("vm");` then `vm_log.info("pid={}", pid)`.
class logger {
 public:
  /// Makes a logger whose lines carry `component`.
  constexpr explicit logger(std::string_view component) : component_(component) {}

  /// Logs at debug level.
  template <class... Ts>
  void debug(fmt::format_string<Ts...> f, Ts&&... xs) const {
    emit(level::debug, f, std::forward<Ts>(xs)...);
  }
  /// Logs at info level.
  template <class... Ts>
  void info(fmt::format_string<Ts...> f, Ts&&... xs) const {
    emit(level::info, f, std::forward<Ts>(xs)...);
  }
  /// Logs at warn level.
  template <class... Ts>
  void warn(fmt::format_string<Ts...> f, Ts&&... xs) const {
    emit(level::warn, f, std::forward<Ts>(xs)...);
  }
  /// Logs at error level.
  template <class... Ts>
  void error(fmt::format_string<Ts...> f, Ts&&... xs) const {
    emit(level::error, f, std::forward<Ts>(xs)...);
  }

 private:
  template <class... Ts>
  void emit(level lvl, fmt::format_string<Ts...> f, Ts&&... xs) const {
    if (lvl < threshold()) return;
    write(lvl, component_, fmt::format(f, std::forward<Ts>(xs)...));
  }

  std::string_view component_;
};

}  // namespace berth::log
