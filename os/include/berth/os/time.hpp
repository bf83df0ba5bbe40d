// time: the wall-clock timestamps records and logs store.
#pragma once

#include <chrono>
#include <cstdint>

namespace berth::os {

/// The wall clock as Unix time in nanoseconds (what records and logs store).
inline int64_t unix_time_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace berth::os
