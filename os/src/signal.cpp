// signal.cpp: signal names and numbers, from the C library's own table of abbreviations.
#include "berth/os/signal.hpp"

#include <csignal>
#include <cstring>

namespace berth::os {

int parse_signal(const std::string& text) {
  if (text.empty()) return 0;
  if (std::isdigit(static_cast<unsigned char>(text[0]))) {
    try {
      int n = std::stoi(text);
      return n > 0 && n < NSIG ? n : 0;
    } catch (...) {
      return 0;
    }
  }
  std::string name = text.rfind("SIG", 0) == 0 ? text.substr(3) : text;
  for (int s = 1; s < NSIG; ++s)
    if (const char* abbrev = sigabbrev_np(s); abbrev && name == abbrev) return s;
  return 0;
}

}  // namespace berth::os
