// random: identifiers and secrets from the kernel's random number generator.
#pragma once

#include <cstddef>
#include <string>

namespace berth::os {

/// A random lowercase hex string of `bytes` random bytes (from getrandom). Throws
/// std::system_error.
std::string random_hex(std::size_t bytes);

}  // namespace berth::os
