// log.cpp: the log descriptor and the line writer.
#include "log.hpp"

#include "berth/agent/server.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdarg>
#include <cstdio>

namespace berth::agent {

namespace {

std::atomic<int> log_fd{STDERR_FILENO};

}  // namespace

void set_log_fd(int fd) {
  log_fd.store(fd);
}

void log(const char* format, ...) {
  int fd = log_fd.load();
  if (fd < 0) return;
  char line[1024] = "berth-init: ";
  constexpr std::size_t prefix = sizeof("berth-init: ") - 1;
  va_list ap;
  va_start(ap, format);
  int n = std::vsnprintf(line + prefix, sizeof(line) - prefix - 1, format, ap);
  va_end(ap);
  if (n < 0) return;
  std::size_t len = prefix + std::min<std::size_t>(n, sizeof(line) - prefix - 2);
  line[len++] = '\n';
  // A line that cannot be written is lost; the agent never stops for its log.
  [[maybe_unused]] auto written = ::write(fd, line, len);
}

}  // namespace berth::agent
