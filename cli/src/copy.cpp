// copy.cpp: the container's files through berthd's file calls, the host's through POSIX and
// libarchive, and the four ways between them (container to directory, container to tar on
// stdout, directory to container, tar on stdin to container).
#include "copy.hpp"

#include "copy_plan.hpp"

#include "berth/rpc/api.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace berth::cli {

namespace {

/// Bytes per file call: a short trip each, well under the agent's 1 MiB.
constexpr uint32_t chunk_size = 256u << 10;

/// File calls of one file in flight at once (reads, and the writes after the creating one).
constexpr std::size_t window = 4;

/// Symlinks followed at the end of one path before giving up, as the kernel's limit.
constexpr int max_links = 40;

std::string sys_text(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

void warn(const std::string& text) {
  std::fprintf(stderr, "berth: %s\n", text.c_str());
}

/// Owner, mode and time of something to create in the container.
struct node_meta {
  uint32_t mode = 0;
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
};

// ---------------------------------------------------------------------------------------------
// The container's side: berthd's container.file.* calls.

class container_files {
 public:
  container_files(rpc::client& c, std::string container)
      : c_(c), container_(std::move(container)) {}

  rpc::client& client() { return c_; }
  const std::string& container() const { return container_; }

  /// The path itself (a final symlink not followed); nullopt when it does not exist.
  std::optional<api::file_info> stat(const std::string& path) {
    try {
      return c_.call<api::file_info>(api::method::file_stat, api::file_ref{container_, path});
    } catch (const rpc::call_error& e) {
      if (e.code() == errc::not_found) return std::nullopt;
      throw;
    }
  }

  /// Follows symlinks at the end of `path` (inside the container's root, as the agent resolves
  /// every path): the path reached and what it is (nullopt: it does not exist).
  std::pair<std::string, std::optional<api::file_info>> resolve(std::string path) {
    for (int i = 0; i <= max_links; ++i) {
      auto info = stat(path);
      if (!info || info->type != "symlink") return {path, info};
      if (info->link.empty()) throw cp_error(path + ": a symlink without a target");
      path = clean_path(info->link[0] == '/' ? info->link : join_path(dir_name(path), info->link));
    }
    throw cp_error(path + ": too many levels of symbolic links");
  }

  /// The entries of a directory, by name.
  std::vector<api::file_info> list(const std::string& path) {
    auto entries = c_.call<std::vector<api::file_info>>(api::method::file_list,
                                                        api::file_ref{container_, path});
    for (auto& e : entries)
      if (e.path.empty() || e.path == "." || e.path == ".." ||
          e.path.find('/') != std::string::npos)
        throw cp_error("berthd listed a bad entry name in " + path);
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.path < b.path; });
    return entries;
  }

  /// Reads the regular file at `path` up to `size` bytes (what its header promised) into
  /// `sink(data, n)`, `window` chunks in flight; returns the bytes read (fewer if it shrank).
  template <class Sink>
  uint64_t read(const std::string& path, uint64_t size, Sink sink) {
    struct pending {
      uint32_t id;
      uint64_t offset;
      uint32_t length;
    };
    std::deque<pending> inflight;
    uint64_t next = 0, done = 0;
    bool eof = false;
    try {
      while (!eof && done < size) {
        while (inflight.size() < window && next < size) {
          auto length = static_cast<uint32_t>(std::min<uint64_t>(chunk_size, size - next));
          api::file_read_request req{container_, path, next, length};
          inflight.push_back({c_.send(api::method::file_read, req), next, length});
          next += length;
        }
        auto p = inflight.front();
        inflight.pop_front();
        auto got = rpc::result_as<api::file_data>(c_.wait(p.id));
        if (p.offset != done) break;  // an earlier chunk came short: the file shrank
        sink(got.data.data(), got.data.size());
        done += got.data.size();
        eof = got.eof || got.data.size() < p.length;
      }
    } catch (...) {
      for (auto& p : inflight) c_.wait(p.id);
      throw;
    }
    for (auto& p : inflight) c_.wait(p.id);
    return done;
  }

 private:
  rpc::client& c_;
  std::string container_;
};

/// Creates files in the container: directories at once (their times at finish(), after their
/// contents), files in chunks, symlinks. Without `keep_owner` everything is root's (docker cp).
class container_writer {
 public:
  container_writer(container_files& files, bool keep_owner)
      : files_(files), keep_owner_(keep_owner) {}

  /// A directory (an existing one is fine: it gets this owner and mode).
  void dir(const std::string& path, const node_meta& meta) {
    files_.client().call<api::empty>(api::method::file_mkdir, spec(path, meta));
    known_dirs_.insert(path);
    dir_times_.emplace_back(path, meta.mtime_ns);
  }

  /// A symlink `path` -> `target`.
  void symlink(const std::string& path, const std::string& target, const node_meta& meta) {
    auto s = spec(path, meta);
    s.link = target;
    files_.client().call<api::empty>(api::method::file_symlink, s);
  }

  /// A regular file whose bytes come from `read(buf, n)` (0 at the end).
  template <class Read>
  void file(const std::string& path, const node_meta& meta, Read read) {
    auto& c = files_.client();
    std::vector<char> buf(chunk_size);
    std::deque<uint32_t> inflight;
    uint64_t offset = 0;
    try {
      for (bool first = true;; first = false) {
        auto n = read(buf.data(), buf.size());
        if (n == 0 && !first) break;
        api::file_write_request w;
        w.container = files_.container();
        w.path = path;
        w.offset = offset;
        w.data.assign(buf.begin(), buf.begin() + static_cast<long>(n));
        w.create = first;
        w.mode = meta.mode & 07777;
        w.uid = keep_owner_ ? meta.uid : 0;
        w.gid = keep_owner_ ? meta.gid : 0;
        auto id = c.send(api::method::file_write, w);
        offset += n;
        // The creating write goes first and alone: the later ones only add bytes.
        if (first)
          rpc::result_as<api::empty>(c.wait(id));
        else
          inflight.push_back(id);
        while (inflight.size() >= window) {
          auto front = inflight.front();
          inflight.pop_front();
          rpc::result_as<api::empty>(c.wait(front));
        }
        if (n == 0) break;
      }
      while (!inflight.empty()) {
        auto front = inflight.front();
        inflight.pop_front();
        rpc::result_as<api::empty>(c.wait(front));
      }
    } catch (...) {
      for (auto id : inflight) c.wait(id);
      throw;
    }
    c.call<api::empty>(api::method::file_set_times, spec(path, meta));
  }

  /// Makes the missing directories between `base` (which exists) and the entry `rel` in it,
  /// root's with mode 0755, as tar does for an archive that does not list them.
  void parents(const std::string& base, const std::string& rel) {
    std::string at = base;
    std::size_t pos = 0;
    for (auto slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', pos)) {
      at = join_path(at, rel.substr(pos, slash - pos));
      pos = slash + 1;
      if (known_dirs_.count(at)) continue;
      auto info = files_.stat(at);
      if (!info) {
        files_.client().call<api::empty>(api::method::file_mkdir,
                                         spec(at, node_meta{0755, 0, 0, 0}));
      } else if (info->type == "file" || info->type == "other") {
        throw cp_error("cannot create " + rel + " in container " + files_.container() + ": " + at +
                       " is not a directory");
      }
      known_dirs_.insert(at);
    }
  }

  /// Sets the times of the directories made, deepest first (creating entries in a directory
  /// changes its mtime).
  void finish() {
    for (auto it = dir_times_.rbegin(); it != dir_times_.rend(); ++it)
      files_.client().call<api::empty>(api::method::file_set_times,
                                       spec(it->first, node_meta{0, 0, 0, it->second}));
    dir_times_.clear();
  }

 private:
  api::file_spec spec(const std::string& path, const node_meta& meta) const {
    api::file_spec s;
    s.container = files_.container();
    s.path = path;
    s.mode = meta.mode & 07777;
    s.uid = keep_owner_ ? meta.uid : 0;
    s.gid = keep_owner_ ? meta.gid : 0;
    s.mtime_ns = meta.mtime_ns;
    return s;
  }

  container_files& files_;
  bool keep_owner_;
  std::set<std::string> known_dirs_;
  std::vector<std::pair<std::string, int64_t>> dir_times_;
};

// ---------------------------------------------------------------------------------------------
// The host's side: libarchive, writing to disk or as a tar stream.

struct archive_closer {
  void operator()(archive* a) const { archive_write_free(a); }
};
using archive_writer = std::unique_ptr<archive, archive_closer>;

struct entry_closer {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

void check(archive* a, int rc, const std::string& what) {
  if (rc == ARCHIVE_OK) return;
  const char* text = archive_error_string(a);
  std::string msg = what + ": " + (text ? text : "failed");
  if (rc == ARCHIVE_WARN) return warn(msg);
  throw cp_error(msg);
}

// Whether `path` is where the VM's own proc, sysfs or devices are mounted in the container: a
// copy of it (or of a directory above it) gets the empty directory, not the VM's kernel objects,
// as docker cp, which reads the container's filesystem without those mounts, does. A path below
// one (/proc/cpuinfo) is copied as asked.
bool pseudo_mount(const std::string& path) {
  return path == "/proc" || path == "/sys" || path == "/dev";
}

// Writes the container's `path` (described by `info`) to `out` as `name`, a directory with
// everything under it; an empty `name` writes only the directory's contents, named from there.
// Only files, directories and symlinks are written, without setuid and setgid bits and without
// extended attributes, and `budget` refuses a copy past its bytes, entries or depth.
void emit(archive* out, container_files& files, copy_budget& budget, const std::string& path,
          const api::file_info& info, const std::string& name, uint32_t depth,
          bool descend = true) {
  if (info.type != "file" && info.type != "dir" && info.type != "symlink") {
    warn("skipping " + path + ": not a regular file, directory or symlink");
    return;
  }
  budget.entry(path, depth);
  if (!name.empty()) {
    std::unique_ptr<archive_entry, entry_closer> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), name.c_str());
    auto type = info.type == "file" ? AE_IFREG : info.type == "dir" ? AE_IFDIR : AE_IFLNK;
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), type == AE_IFLNK ? 0777 : host_mode(info.mode & 07777));
    archive_entry_set_uid(e.get(), info.uid);
    archive_entry_set_gid(e.get(), info.gid);
    auto sec = static_cast<time_t>(info.mtime_ns / 1000000000);
    auto nsec = static_cast<long>(info.mtime_ns % 1000000000);
    if (nsec < 0) {
      nsec += 1000000000;
      --sec;
    }
    archive_entry_set_mtime(e.get(), sec, nsec);
    archive_entry_set_atime(e.get(), sec, nsec);
    archive_entry_set_size(e.get(), type == AE_IFREG ? static_cast<la_int64_t>(info.size) : 0);
    if (type == AE_IFLNK) archive_entry_set_symlink(e.get(), info.link.c_str());
    check(out, archive_write_header(out, e.get()), name);
    if (type == AE_IFREG)
      files.read(path, info.size, [&](const char* data, std::size_t n) {
        budget.bytes(path, n);
        if (n > 0 && archive_write_data(out, data, n) < 0) check(out, ARCHIVE_FATAL, name);
      });
    check(out, archive_write_finish_entry(out), name);
  }
  if (info.type == "dir" && descend)
    for (auto& child : files.list(path)) {
      auto at = join_path(path, child.path);
      emit(out, files, budget, at, child, name.empty() ? child.path : name + "/" + child.path,
           depth + 1, !pseudo_mount(at));
    }
}

// ---------------------------------------------------------------------------------------------
// The four directions.

std::string running_container(rpc::client& c, const std::string& name) {
  auto info = c.call<api::container_info>(api::method::container_inspect, api::container_ref{name});
  if (info.state != "running")
    throw cp_error("container " + name + " is not running; berth cp needs its VM");
  return info.id;
}

std::string absolute_in_container(const std::string& path) {
  if (path.empty()) throw cp_error("the path in the container cannot be empty");
  return path[0] == '/' ? path : "/" + path;
}

path_kind local_kind(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) return S_ISDIR(st.st_mode) ? path_kind::dir : path_kind::file;
  if (errno == ENOENT) return path_kind::missing;
  throw cp_error(sys_text("stat " + path, errno));
}

void copy_out(rpc::client& c, const cp_location& src, const std::string& dest,
              const cp_request& req) {
  container_files files(c, running_container(c, src.container));
  auto raw = absolute_in_container(src.path);
  auto path = clean_path(raw);
  bool follow = req.follow_link || ends_with_separator(raw) || names_contents(raw);
  auto [real, info] = follow ? files.resolve(path) : std::pair{path, files.stat(path)};
  if (!info) throw cp_error("Could not find the file " + path + " in container " + src.container);
  bool is_dir = info->type == "dir";

  if (dest == "-") {
    // A tar stream of the source under its own name ("dir/." : its contents).
    auto name = plan_copy(raw, is_dir, ".", path_kind::dir).name;
    archive_writer out(archive_write_new());
    archive_write_set_format_pax_restricted(out.get());
    check(out.get(), archive_write_open_fd(out.get(), STDOUT_FILENO), "write to stdout");
    copy_budget budget(req.limits);
    emit(out.get(), files, budget, real, *info, name, 0, !pseudo_mount(real));
    check(out.get(), archive_write_close(out.get()), "write to stdout");
    return;
  }

  auto kind = local_kind(dest);
  auto target = plan_copy(raw, is_dir, dest, kind);
  if (kind == path_kind::missing && local_kind(target.dir) != path_kind::dir)
    throw cp_error("destination directory " + target.dir + " does not exist");
  // Entries are named relative to the directory they land in, so libarchive's checks (no "..",
  // no absolute names, no writing through a symlink) keep everything inside it.
  if (::chdir(target.dir.c_str()) != 0) throw cp_error(sys_text("chdir " + target.dir, errno));
  archive_writer out(archive_write_disk_new());
  // No ARCHIVE_EXTRACT_XATTR/ACL/FFLAGS: nothing privileged from the guest reaches the disk;
  // emit() writes no device nodes and no setuid or setgid bits.
  int flags = ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
              ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;
  if (req.archive) flags |= ARCHIVE_EXTRACT_OWNER;
  archive_write_disk_set_options(out.get(), flags);
  copy_budget budget(req.limits);
  emit(out.get(), files, budget, real, *info, target.name, 0, !pseudo_mount(real));
  // Directories get their modes and times here, after their contents.
  check(out.get(), archive_write_close(out.get()), "finish " + dest);
}

// Reads up to `n` bytes of `fd`, fewer only at its end.
std::size_t read_full(int fd, char* buf, std::size_t n, const std::string& what) {
  std::size_t got = 0;
  while (got < n) {
    auto r = ::read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) throw cp_error(sys_text("read " + what, errno));
    if (r == 0) break;
    got += static_cast<std::size_t>(r);
  }
  return got;
}

node_meta meta_of(const struct stat& st) {
  return {static_cast<uint32_t>(st.st_mode & 07777), st.st_uid, st.st_gid,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
}

// Copies the local `local` to the container's `path`; with `contents_only` the entries of the
// directory `local` go into the existing directory `path`.
void put_local(container_writer& w, const std::string& local, const std::string& path, bool follow,
               bool contents_only) {
  struct stat st {};
  if ((follow ? ::stat(local.c_str(), &st) : ::lstat(local.c_str(), &st)) != 0)
    throw cp_error(sys_text("lstat " + local, errno));
  auto meta = meta_of(st);
  if (S_ISDIR(st.st_mode)) {
    if (!contents_only) w.dir(path, meta);
    std::vector<std::string> names;
    {
      std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(local.c_str()), ::closedir);
      if (!dir) throw cp_error(sys_text("open " + local, errno));
      errno = 0;
      while (auto* e = ::readdir(dir.get())) {
        std::string name = e->d_name;
        if (name != "." && name != "..") names.push_back(std::move(name));
      }
      if (errno != 0) throw cp_error(sys_text("read " + local, errno));
    }
    std::sort(names.begin(), names.end());
    for (auto& name : names)
      put_local(w, join_path(local, name), join_path(path, name), false, false);
  } else if (S_ISREG(st.st_mode)) {
    int fd = ::open(local.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | (follow ? 0 : O_NOFOLLOW));
    if (fd < 0) throw cp_error(sys_text("open " + local, errno));
    std::unique_ptr<int, void (*)(int*)> guard(&fd, [](int* p) { ::close(*p); });
    w.file(path, meta, [&](char* buf, std::size_t n) { return read_full(fd, buf, n, local); });
  } else if (S_ISLNK(st.st_mode)) {
    std::vector<char> target(PATH_MAX);
    auto n = ::readlink(local.c_str(), target.data(), target.size());
    if (n < 0) throw cp_error(sys_text("readlink " + local, errno));
    w.symlink(path, std::string(target.data(), static_cast<std::size_t>(n)), meta);
  } else {
    warn("skipping " + local + ": not a regular file, directory or symlink");
  }
}

// A tar entry's name relative to the destination: without leading '/', "." and empty
// components; a ".." would leave the destination and is refused.
std::string entry_path(const char* raw) {
  std::string name = raw ? raw : "";
  std::string out;
  std::size_t pos = 0;
  while (pos <= name.size()) {
    auto slash = name.find('/', pos);
    if (slash == std::string::npos) slash = name.size();
    auto part = name.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..")
      throw cp_error("refusing the archive entry \"" + name +
                     "\": it leads out of the destination");
    out += out.empty() ? part : "/" + part;
  }
  return out;
}

// Creates the entries of the tar archive on stdin under the container's directory `dest`.
void put_tar(container_files& files, container_writer& w, const std::string& dest) {
  std::unique_ptr<archive, int (*)(archive*)> in(archive_read_new(), archive_read_free);
  archive_read_support_filter_all(in.get());
  archive_read_support_format_tar(in.get());
  if (archive_read_open_fd(in.get(), STDIN_FILENO, 64 * 1024) != ARCHIVE_OK)
    throw cp_error(std::string("read the archive on stdin: ") + archive_error_string(in.get()));
  for (;;) {
    archive_entry* e = nullptr;
    int rc = archive_read_next_header(in.get(), &e);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN)
      throw cp_error(std::string("read the archive on stdin: ") + archive_error_string(in.get()));
    auto rel = entry_path(archive_entry_pathname(e));
    if (rel.empty()) continue;  // the archive's root: the destination keeps its own owner and mode
    auto path = join_path(dest, rel);
    w.parents(dest, rel);
    node_meta meta{
        static_cast<uint32_t>(archive_entry_perm(e) & 07777),
        static_cast<uint32_t>(archive_entry_uid(e)), static_cast<uint32_t>(archive_entry_gid(e)),
        static_cast<int64_t>(archive_entry_mtime(e)) * 1000000000 + archive_entry_mtime_nsec(e)};
    if (const char* link = archive_entry_hardlink(e)) {
      // A hard link to an earlier entry: the agent makes no links, so it becomes a copy.
      auto from = join_path(dest, entry_path(link));
      auto info = files.stat(from);
      if (!info || info->type != "file") {
        warn("skipping the hard link " + rel + ": " + from + " is not a file in the container");
        continue;
      }
      uint64_t offset = 0;
      w.file(path, meta, [&](char* buf, std::size_t n) -> std::size_t {
        auto got = files.client().call<api::file_data>(
            api::method::file_read,
            api::file_read_request{files.container(), from, offset, static_cast<uint32_t>(n)});
        auto size = std::min(got.data.size(), n);
        std::memcpy(buf, got.data.data(), size);
        offset += size;
        return size;
      });
      continue;
    }
    switch (archive_entry_filetype(e)) {
      case AE_IFDIR:
        w.dir(path, meta);
        break;
      case AE_IFREG:
        w.file(path, meta, [&](char* buf, std::size_t n) -> std::size_t {
          std::size_t got = 0;
          while (got < n) {
            auto r = archive_read_data(in.get(), buf + got, n - got);
            if (r < 0)
              throw cp_error(std::string("read the archive on stdin: ") +
                             archive_error_string(in.get()));
            if (r == 0) break;
            got += static_cast<std::size_t>(r);
          }
          return got;
        });
        break;
      case AE_IFLNK:
        w.symlink(path, archive_entry_symlink(e) ? archive_entry_symlink(e) : "", meta);
        break;
      default:
        warn("skipping " + rel + ": not a regular file, directory or symlink");
    }
  }
}

void copy_in(rpc::client& c, const std::string& local, const cp_location& dest,
             const cp_request& req) {
  container_files files(c, running_container(c, dest.container));
  container_writer w(files, req.archive);
  auto raw = absolute_in_container(dest.path);
  auto [real, info] = files.resolve(clean_path(raw));
  auto kind = !info ? path_kind::missing : info->type == "dir" ? path_kind::dir : path_kind::file;

  if (local == "-") {
    if (kind != path_kind::dir) throw cp_error("destination \"" + raw + "\" must be a directory");
    put_tar(files, w, real);
    w.finish();
    return;
  }

  bool follow = req.follow_link || ends_with_separator(local) || names_contents(local);
  struct stat st {};
  if ((follow ? ::stat(local.c_str(), &st) : ::lstat(local.c_str(), &st)) != 0)
    throw cp_error(sys_text("lstat " + local, errno));
  auto target =
      plan_copy(local, S_ISDIR(st.st_mode), ends_with_separator(raw) ? real + "/" : real, kind);
  if (kind == path_kind::missing) {
    auto [dir, dir_info] = files.resolve(target.dir);
    if (!dir_info || dir_info->type != "dir")
      throw cp_error("Could not find the directory " + target.dir + " in container " +
                     dest.container);
    target.dir = dir;
  }
  put_local(w, local, join_path(target.dir, target.name), follow, target.name.empty());
  w.finish();
}

}  // namespace

void run_cp(rpc::client& c, const cp_request& req) {
  auto src = req.src == "-" ? cp_location{"", "-"} : split_cp_arg(req.src);
  auto dest = req.dest == "-" ? cp_location{"", "-"} : split_cp_arg(req.dest);
  if (src.container.empty() && dest.container.empty())
    throw cp_error("must specify at least one container source");
  if (!src.container.empty() && !dest.container.empty())
    throw cp_error("copying between containers is not supported");
  if (src.path.empty() || dest.path.empty()) throw cp_error("a path cannot be empty");
  if (!src.container.empty())
    copy_out(c, src, dest.path, req);
  else
    copy_in(c, src.path, dest, req);
}

}  // namespace berth::cli
