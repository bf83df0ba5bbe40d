// files.cpp: path checks, openat2 lookups inside the root, and the seven file operations.
#include "files.hpp"

#include "berth/rpc/codec.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace berth::agent {

namespace {

std::string describe(int err) {
  std::string text = std::strerror(err);
  if (!text.empty() && text[0] >= 'A' && text[0] <= 'Z' &&
      !(text.size() > 1 && text[1] >= 'A' && text[1] <= 'Z'))
    text[0] = static_cast<char>(text[0] - 'A' + 'a');
  return text;
}

// The error class of an errno from a file operation.
errc class_of(int err) {
  switch (err) {
    case ENOENT:
      return errc::not_found;
    case ENOTDIR:
    case EISDIR:
      return errc::conflict;
    default:
      return errc::io;
  }
}

[[noreturn]] void fail(const char* op, const std::string& path, int err) {
  throw rpc::call_error(class_of(err), std::string(op) + " " + path + ": " + describe(err));
}

[[noreturn]] void refuse(errc code, const std::string& text) {
  throw rpc::call_error(code, text);
}

// The components of an absolute path, without empty ones; "." and ".." stay (openat2 resolves
// them inside the root).
std::vector<std::string> components(const std::string& path) {
  if (path.empty() || path[0] != '/')
    refuse(errc::invalid_argument, "path \"" + path + "\" is not absolute");
  if (path.find('\0') != std::string::npos)
    refuse(errc::invalid_argument, "path contains a NUL byte");
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    if (slash > pos) out.push_back(path.substr(pos, slash - pos));
    pos = slash + 1;
  }
  return out;
}

std::string joined(const std::vector<std::string>& parts, std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out.empty() ? std::string(".") : out;
}

timespec to_timespec(int64_t ns) {
  int64_t sec = ns / 1000000000;
  int64_t rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    --sec;
  }
  return {static_cast<time_t>(sec), static_cast<long>(rem)};
}

const char* type_of(mode_t mode) {
  if (S_ISREG(mode)) return "file";
  if (S_ISDIR(mode)) return "dir";
  if (S_ISLNK(mode)) return "symlink";
  return "other";
}

std::string read_link(int dir, const std::string& name) {
  char buf[PATH_MAX];
  auto n = ::readlinkat(dir, name.c_str(), buf, sizeof buf);
  return n < 0 ? std::string() : std::string(buf, static_cast<std::size_t>(n));
}

file_info info_of(const struct stat& st, std::string path) {
  file_info info;
  info.path = std::move(path);
  info.type = type_of(st.st_mode);
  info.mode = st.st_mode & 07777;
  info.uid = st.st_uid;
  info.gid = st.st_gid;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return info;
}

}  // namespace

int open_in_root(int root, const std::string& rel, int flags, unsigned mode) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags) | O_CLOEXEC;
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  // EAGAIN: a concurrent rename while `..` was resolved; the kernel asks for a retry.
  for (int attempt = 0;; ++attempt) {
    int fd = static_cast<int>(::syscall(SYS_openat2, root, rel.c_str(), &how, sizeof how));
    if (fd >= 0 || errno != EAGAIN || attempt >= 16) return fd;
  }
}

root_files::root_files(const std::string& root)
    : root_(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
  if (!root_) fail("open the container root", root, errno);
}

os::unique_fd root_files::open_path(const std::string& path, int flags, unsigned mode) const {
  auto parts = components(path);
  os::unique_fd fd(agent::open_in_root(root_.get(), joined(parts, parts.size()), flags, mode));
  if (!fd) fail("open", path, errno);
  return fd;
}

root_files::parent_ref root_files::parent_of(const std::string& path) const {
  auto parts = components(path);
  parent_ref ref;
  if (parts.empty()) {
    ref.dir.reset(::fcntl(root_.get(), F_DUPFD_CLOEXEC, 0));
    if (!ref.dir) fail("open", path, errno);
    ref.name = ".";
    return ref;
  }
  ref.name = parts.back();
  if (ref.name == "." || ref.name == "..")
    refuse(errc::invalid_argument, "path \"" + path + "\" ends in \"" + ref.name + "\"");
  ref.dir.reset(
      agent::open_in_root(root_.get(), joined(parts, parts.size() - 1), O_PATH | O_DIRECTORY, 0));
  if (!ref.dir) fail("open the parent of", path, errno);
  return ref;
}

file_info root_files::stat(const std::string& path) const {
  auto ref = parent_of(path);
  struct stat st {};
  if (::fstatat(ref.dir.get(), ref.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    fail("stat", path, errno);
  auto info = info_of(st, path);
  if (S_ISLNK(st.st_mode)) info.link = read_link(ref.dir.get(), ref.name);
  return info;
}

std::vector<file_info> root_files::list(const std::string& path, std::size_t max_entries) const {
  auto fd = open_path(path, O_RDONLY | O_DIRECTORY);
  DIR* dir = ::fdopendir(fd.get());
  if (!dir) fail("list", path, errno);
  fd.release();
  std::vector<file_info> out;
  int err = 0;
  for (;;) {
    errno = 0;
    auto* e = ::readdir(dir);
    if (!e) {
      err = errno;
      break;
    }
    std::string name = e->d_name;
    if (name == "." || name == "..") continue;
    if (out.size() >= max_entries) {
      ::closedir(dir);
      refuse(errc::invalid_argument,
             "directory " + path + " has more than " + std::to_string(max_entries) + " entries");
    }
    struct stat st {};
    // An entry removed since readdir saw it is left out.
    if (::fstatat(::dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    auto info = info_of(st, name);
    if (S_ISLNK(st.st_mode)) info.link = read_link(::dirfd(dir), name);
    out.push_back(std::move(info));
  }
  ::closedir(dir);
  if (err != 0) fail("list", path, err);
  return out;
}

read_result root_files::read(const read_request& req) const {
  if (req.offset > static_cast<uint64_t>(INT64_MAX))
    refuse(errc::invalid_argument, "offset " + std::to_string(req.offset) + " is too large");
  // Looked at through O_PATH first, so that a FIFO or a device is never opened.
  auto probe = open_path(req.path, O_PATH);
  struct stat st {};
  if (::fstat(probe.get(), &st) != 0) fail("stat", req.path, errno);
  if (!S_ISREG(st.st_mode)) refuse(errc::conflict, req.path + " is not a regular file");
  auto fd = open_path(req.path, O_RDONLY | O_NONBLOCK | O_NOCTTY);
  struct stat again {};
  if (::fstat(fd.get(), &again) != 0) fail("stat", req.path, errno);
  if (again.st_dev != st.st_dev || again.st_ino != st.st_ino)
    refuse(errc::conflict, req.path + " changed while it was opened");

  std::size_t want = std::min<std::size_t>(req.length, max_file_chunk);
  read_result out;
  out.data.resize(want);
  std::size_t got = 0;
  while (got < want) {
    auto n =
        ::pread(fd.get(), out.data.data() + got, want - got, static_cast<off_t>(req.offset + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("read", req.path, errno);
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.data.resize(got);
  out.eof = got < want || req.offset + got >= static_cast<uint64_t>(again.st_size);
  return out;
}

void root_files::mkdir(const file_info& info) const {
  auto ref = parent_of(info.path);
  if (::mkdirat(ref.dir.get(), ref.name.c_str(), 0700) != 0 && errno != EEXIST)
    fail("mkdir", info.path, errno);
  os::unique_fd dir(
      ::openat(ref.dir.get(), ref.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) {
    if (errno == ENOTDIR || errno == ELOOP)
      refuse(errc::conflict, info.path + " exists and is not a directory");
    fail("open", info.path, errno);
  }
  // Owner before mode: chown clears the set-id bits.
  if (::fchown(dir.get(), info.uid, info.gid) != 0) fail("chown", info.path, errno);
  if (::fchmod(dir.get(), info.mode & 07777) != 0) fail("chmod", info.path, errno);
  if (info.mtime_ns != 0) {
    timespec ts[2] = {to_timespec(info.mtime_ns), to_timespec(info.mtime_ns)};
    if (::futimens(dir.get(), ts) != 0) fail("set times of", info.path, errno);
  }
}

void root_files::write(const write_request& req) const {
  if (req.data.size() > max_file_chunk)
    refuse(errc::invalid_argument, "write of " + std::to_string(req.data.size()) +
                                       " bytes; at most " + std::to_string(max_file_chunk));
  if (req.offset > static_cast<uint64_t>(INT64_MAX) - req.data.size())
    refuse(errc::invalid_argument, "offset " + std::to_string(req.offset) + " is too large");
  auto ref = parent_of(req.path);
  struct stat st {};
  if (::fstatat(ref.dir.get(), ref.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (S_ISLNK(st.st_mode))
      refuse(errc::conflict, req.path + " is a symlink; berth does not write through it");
    if (!S_ISREG(st.st_mode)) refuse(errc::conflict, req.path + " is not a regular file");
  } else if (errno != ENOENT || !req.create) {
    fail("stat", req.path, errno);
  }
  int flags = O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
  if (req.create) flags |= O_CREAT | O_TRUNC;
  os::unique_fd fd(::openat(ref.dir.get(), ref.name.c_str(), flags, 0600));
  if (!fd) {
    if (errno == ELOOP || errno == ENXIO || errno == EISDIR)
      refuse(errc::conflict, req.path + " is not a regular file");
    fail("open", req.path, errno);
  }
  if (::fstat(fd.get(), &st) != 0) fail("stat", req.path, errno);
  if (!S_ISREG(st.st_mode)) refuse(errc::conflict, req.path + " is not a regular file");
  if (req.create) {
    if (::fchown(fd.get(), req.uid, req.gid) != 0) fail("chown", req.path, errno);
    if (::fchmod(fd.get(), req.mode & 07777) != 0) fail("chmod", req.path, errno);
  }
  std::size_t done = 0;
  while (done < req.data.size()) {
    auto n = ::pwrite(fd.get(), req.data.data() + done, req.data.size() - done,
                      static_cast<off_t>(req.offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("write", req.path, errno);
    done += static_cast<std::size_t>(n);
  }
}

void root_files::symlink(const file_info& info) const {
  if (info.link.empty()) refuse(errc::invalid_argument, "symlink " + info.path + ": empty target");
  auto ref = parent_of(info.path);
  if (ref.name == ".") refuse(errc::conflict, "/ is a directory");
  if (::symlinkat(info.link.c_str(), ref.dir.get(), ref.name.c_str()) != 0) {
    if (errno != EEXIST) fail("symlink", info.path, errno);
    struct stat st {};
    if (::fstatat(ref.dir.get(), ref.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISDIR(st.st_mode))
      refuse(errc::conflict, info.path + " exists and is a directory");
    if (::unlinkat(ref.dir.get(), ref.name.c_str(), 0) != 0 && errno != ENOENT)
      fail("replace", info.path, errno);
    if (::symlinkat(info.link.c_str(), ref.dir.get(), ref.name.c_str()) != 0)
      fail("symlink", info.path, errno);
  }
  if (::fchownat(ref.dir.get(), ref.name.c_str(), info.uid, info.gid, AT_SYMLINK_NOFOLLOW) != 0)
    fail("chown", info.path, errno);
  if (info.mtime_ns != 0) {
    timespec ts[2] = {to_timespec(info.mtime_ns), to_timespec(info.mtime_ns)};
    if (::utimensat(ref.dir.get(), ref.name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
      fail("set times of", info.path, errno);
  }
}

void root_files::set_times(const file_info& info) const {
  auto ref = parent_of(info.path);
  timespec ts[2] = {to_timespec(info.mtime_ns), to_timespec(info.mtime_ns)};
  if (::utimensat(ref.dir.get(), ref.name.c_str(), ts, AT_SYMLINK_NOFOLLOW) != 0)
    fail("set times of", info.path, errno);
}

}  // namespace berth::agent
