// file.cpp: durable writes and bounded reads.
#include "berth/os/file.hpp"

#include "berth/os/fd.hpp"
#include "berth/os/random.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace berth::os {

namespace fs = std::filesystem;

void fsync_dir(const fs::path& dir) {
  unique_fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd) throw sys_error(errno, "open " + dir.string());
  if (::fsync(fd.get()) != 0) throw sys_error(errno, "fsync " + dir.string());
}

void write_file_atomic(const fs::path& path, std::string_view data, mode_t mode) {
  auto dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  auto tmp = dir / ("." + path.filename().string() + ".tmp-" + random_hex(6));
  unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd) throw sys_error(errno, "create " + tmp.string());
  try {
    write_all(fd.get(), data, "write " + tmp.string());
    if (::fsync(fd.get()) != 0) throw sys_error(errno, "fsync " + tmp.string());
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) != 0) throw sys_error(errno, "rename " + path.string());
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(dir);
}

std::string read_file(const fs::path& path, std::size_t max_bytes) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw sys_error(errno, "open " + path.string());
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error(errno, "read " + path.string());
    }
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes)
      throw sys_error(EFBIG, "read " + path.string());
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::string read_tail(const fs::path& path, std::size_t max_bytes) {
  unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) throw sys_error(errno, "open " + path.string());
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw sys_error(errno, "stat " + path.string());
  auto size = static_cast<std::size_t>(st.st_size);
  auto from = size > max_bytes ? size - max_bytes : 0;
  std::string out(size - from, '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    auto n = ::pread(fd.get(), out.data() + got, out.size() - got, static_cast<off_t>(from + got));
    if (n < 0) {
      if (errno == EINTR) continue;
      throw sys_error(errno, "read " + path.string());
    }
    if (n == 0) break;  // it shrank meanwhile
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace berth::os
