// random: identifiers and secrets from the kernel's random number generator.
#pragma once

#include <cstddef>
#include <string>

namespace berth::os {

/// `bytes` random bytes (from getrandom), for secrets. Throws std::system_error.
std::string random_bytes(std::size_t bytes);

/// A random lowercase hex string of `bytes` random bytes (from getrandom). Throws
/// std::system_error.
std::string random_hex(std::size_t bytes);

}  // namespace berth::os
