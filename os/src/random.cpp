// random.cpp: secrets and hex identifiers from getrandom.
#include "berth/os/random.hpp"

#include "berth/os/fd.hpp"

#include <sys/random.h>

#include <cerrno>

namespace berth::os {

std::string random_bytes(std::size_t bytes) {
  std::string raw(bytes, '\0');
  std::size_t got = 0;
  while (got < bytes) {
    auto n = ::getrandom(raw.data() + got, bytes - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error(errno, "getrandom");
    }
    got += static_cast<std::size_t>(n);
  }
  return raw;
}

std::string random_hex(std::size_t bytes) {
  auto raw = random_bytes(bytes);
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char c : raw) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace berth::os
