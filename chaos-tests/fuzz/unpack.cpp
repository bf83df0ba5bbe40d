// unpack: fuzzes applying image layers (apply_layer), where a hostile tar meets berthd's disk as
// root. Nothing a layer says may create, change or link anything outside the root it is
// unpacked into.
//
// An input is either a layer blob as it is (tar, gzip or zstd) or, when it starts with
// "#!layers\n", a small script of entries that the harness writes as well-formed tars, so that
// the fuzzer spends its time on names, links and layer order instead of tar checksums:
//
//   f[MODE] NAME DATA     regular file          d[MODE] NAME          directory
//   l NAME TARGET         symlink               h NAME TARGET         hard link
//   c NAME / b NAME       char / block device   p NAME                fifo
//   ---                   the next layer
//
// Each input is unpacked into TOP/w/a/b/root, three levels below a directory that holds only
// what the harness put there, so that an entry climbing out with ".." lands where the harness
// looks. Afterwards: TOP and the directories above the root hold exactly what the harness made;
// none of those directories nor the layer blobs changed (inode, mode, owner, links, size, times,
// bytes); and every file in the root with several hard links has all of them inside the root.
//
// Run as root, the harness first confines itself: in a mount namespace of its own everything is
// remounted read-only and nodev except TOP (a tmpfs, nodev too, so no device node made by a layer
// can be opened), the working directory and the corpus and artifact directories libFuzzer writes;
// and each layer is applied chrooted into TOP. A write that escapes the root, even by an absolute
// path, therefore lands in TOP where the checks see it, and cannot change this machine.
// BERTH_FUZZ_NO_SANDBOX=1 turns the confinement off (then only escapes into TOP are seen);
// BERTH_FUZZ_VERBOSE=1 prints why each layer was refused.
#include "berth/image/unpack.hpp"
#include "berth/actors/log.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/image/descriptor.hpp"
#include "berth/image/digest.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace fs = std::filesystem;
namespace image = berth::image;

constexpr size_t max_input = 64u << 10;
constexpr size_t max_layers = 4;
constexpr size_t max_entries = 64;
constexpr std::string_view script_magic = "#!layers\n";

void fail(const std::string& what) {
  std::fprintf(stderr, "unpack: invariant broken: %s\n", what.c_str());
  std::abort();
}

fs::path top;            // The harness's own directory; everything an input makes is below it.
int top_parent = -1;     // Its parent, opened before the confinement made that read-only.
bool top_tmpfs = false;  // Whether a tmpfs is mounted on it.
int real_root = -1;      // The confined harness's way back out of the chroot it unpacks in.
int real_cwd = -1;
bool verbose = false;  // BERTH_FUZZ_VERBOSE=1: print why each layer failed (to replay inputs).

// ---- Confinement -------------------------------------------------------------------------------

// Unescapes a path of /proc/self/mountinfo ("\040" for a space).
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 3), nullptr, 8));
      i += 3;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::vector<std::string> mount_points() {
  std::vector<std::string> out;
  std::ifstream in{"/proc/self/mountinfo"};
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields{line};
    std::string id, parent, dev, root, point;
    if (fields >> id >> parent >> dev >> root >> point) out.push_back(unescape(point));
  }
  return out;
}

unsigned long flags_of(const std::string& point) {
  struct statvfs st {};
  if (::statvfs(point.c_str(), &st) != 0) return 0;
  unsigned long flags = 0;
  if (st.f_flag & ST_NOSUID) flags |= MS_NOSUID;
  if (st.f_flag & ST_NOEXEC) flags |= MS_NOEXEC;
  if (st.f_flag & ST_NOATIME) flags |= MS_NOATIME;
  if (st.f_flag & ST_NODIRATIME) flags |= MS_NODIRATIME;
  if (st.f_flag & ST_RELATIME) flags |= MS_RELATIME;
  return flags;
}

void confine(const std::vector<fs::path>& writable) {
  if (::geteuid() != 0) return;
  if (const char* off = std::getenv("BERTH_FUZZ_NO_SANDBOX"); off != nullptr && *off == '1') {
    std::fprintf(stderr, "unpack: BERTH_FUZZ_NO_SANDBOX=1: running as root without confinement\n");
    return;
  }
  std::set<std::string> keep;
  for (const auto& w : writable) {
    std::error_code ec;
    auto canonical = fs::canonical(w, ec);
    if (ec) continue;
    if (canonical == "/") {
      std::fprintf(stderr, "unpack: / would stay writable; running without confinement\n");
      return;
    }
    keep.insert(canonical.string());
  }
  auto die = [](const char* what) {
    std::fprintf(stderr,
                 "unpack: cannot confine the harness (%s): %m; "
                 "set BERTH_FUZZ_NO_SANDBOX=1 to run without\n",
                 what);
    std::exit(1);
  };
  auto t = fs::canonical(top).string();
  keep.insert(t);
  if (::unshare(CLONE_NEWNS) != 0) die("unshare");
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) die("private /");
  for (const auto& k : keep)
    if (k != t && ::mount(k.c_str(), k.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0)
      die("bind");
  // TOP gets a tmpfs of its own: writable, no device node made there can be opened, and files
  // come and go without the disk (deleting on a disk mounted with discard takes milliseconds).
  if (::mount("berth-fuzz", t.c_str(), "tmpfs", MS_NODEV | MS_NOSUID, "mode=0700,size=256m") != 0)
    die("tmpfs on TOP");
  top_tmpfs = true;
  for (const auto& point : mount_points()) {
    if (keep.count(point) > 0) continue;
    auto flags = flags_of(point) | MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV;
    if (::mount(nullptr, point.c_str(), nullptr, flags, nullptr) != 0 && point == "/")
      die("read-only /");
  }
  real_root = ::open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  real_cwd = ::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (real_root < 0 || real_cwd < 0) die("open /");
  // OpenSSL reads its configuration on the first digest: do that before any chroot.
  (void)image::sha256_of("warm up");
}

// Layers are applied chrooted into TOP when the harness is confined, so that any path a layer
// could reach, absolute ones included, lies inside TOP, where the checks look.
struct jail {
  jail() {
    if (real_root < 0) return;
    if (::chroot(top.c_str()) != 0 || ::chdir("/") != 0) fail("cannot chroot into TOP");
  }
  ~jail() {
    if (real_root < 0) return;
    if (::fchdir(real_root) != 0 || ::chroot(".") != 0 || ::fchdir(real_cwd) != 0)
      fail("cannot leave the chroot");
  }
  jail(const jail&) = delete;
  jail& operator=(const jail&) = delete;
};

// ---- Writing script layers ---------------------------------------------------------------------

struct entry {
  char type = 'f';
  int mode = -1;
  std::string name;
  std::string arg;
};

std::vector<std::vector<entry>> parse_script(std::string_view text) {
  std::vector<std::vector<entry>> layers(1);
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (line == "---") {
      if (layers.size() == max_layers) break;
      layers.emplace_back();
      continue;
    }
    if (line.empty() || layers.back().size() == max_entries) continue;
    entry e;
    auto sp = line.find(' ');
    auto head = line.substr(0, sp);
    e.type = head[0];
    if (head.size() > 1) {
      int mode = 0;
      for (char c : head.substr(1, 5))
        if (c >= '0' && c <= '7') mode = mode * 8 + (c - '0');
      e.mode = mode;
    }
    if (sp == std::string_view::npos) continue;
    auto rest = line.substr(sp + 1);
    auto sp2 = rest.find(' ');
    e.name = std::string{rest.substr(0, sp2)};
    if (sp2 != std::string_view::npos) e.arg = std::string{rest.substr(sp2 + 1)};
    layers.back().push_back(std::move(e));
  }
  return layers;
}

la_ssize_t append(struct archive*, void* client, const void* buf, size_t size) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), size);
  return static_cast<la_ssize_t>(size);
}

// A pax tar of `entries`. The pax writer takes names in the thread's locale: C.UTF-8 here.
std::string make_tar(const std::vector<entry>& entries) {
  static locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  locale_t previous = utf8 != static_cast<locale_t>(0) ? ::uselocale(utf8) : nullptr;
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(a, &out, nullptr, append, nullptr);
  for (const auto& x : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, x.name.c_str());
    archive_entry_set_mtime(e, 1700000000, 0);
    int mode = x.mode;
    bool data = false;
    switch (x.type) {
      case 'd':
        archive_entry_set_filetype(e, AE_IFDIR);
        if (mode < 0) mode = 0755;
        break;
      case 'l':
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, x.arg.c_str());
        mode = 0777;
        break;
      case 'h':
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, x.arg.c_str());
        break;
      case 'c':
      case 'b':
        archive_entry_set_filetype(e, x.type == 'c' ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdev(e, makedev(1, 3));
        break;
      case 'p':
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
      default:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(x.arg.size()));
        data = true;
        break;
    }
    archive_entry_set_perm(e, static_cast<mode_t>(mode < 0 ? 0644 : mode));
    if (archive_write_header(a, e) >= ARCHIVE_WARN && data)
      archive_write_data(a, x.arg.data(), x.arg.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  if (previous != nullptr) ::uselocale(previous);
  return out;
}

// ---- Checks ------------------------------------------------------------------------------------

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator i{dir, ec}, end; !ec && i != end; i.increment(ec))
    out.insert(i->path().filename().string());
  return out;
}

void expect_only(const fs::path& dir, const std::set<std::string>& want) {
  auto got = names_in(dir);
  if (got == want) return;
  std::string text;
  for (const auto& n : got) text += " '" + n + "'";
  fail("something was created outside the root: " + dir.string() + " holds" + text);
}

// What a change to an existing object outside the root would alter: its inode, type, mode,
// owner, links, size, modification and change times, and a regular file's bytes.
std::string state_of(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return "missing";
  std::ostringstream out;
  out << st.st_ino << ' ' << std::oct << st.st_mode << std::dec << ' ' << st.st_uid << ':'
      << st.st_gid << ' ' << st.st_nlink << ' ' << st.st_size << ' ' << st.st_mtim.tv_sec << '.'
      << st.st_mtim.tv_nsec << ' ' << st.st_ctim.tv_sec << '.' << st.st_ctim.tv_nsec;
  if (S_ISREG(st.st_mode)) {
    std::ifstream in{p, std::ios::binary};
    out << ' ' << in.rdbuf();
  }
  return out.str();
}

std::map<fs::path, std::string> states_of(const std::vector<fs::path>& paths) {
  std::map<fs::path, std::string> out;
  for (const auto& p : paths) out[p] = state_of(p);
  return out;
}

// Every inode in the root with several links must have all of them in the root.
void check_links(const fs::path& root) {
  std::map<std::pair<dev_t, ino_t>, std::pair<nlink_t, nlink_t>> seen;  // links, found
  std::error_code ec;
  for (fs::recursive_directory_iterator i{root, ec}, end; !ec && i != end; i.increment(ec)) {
    struct stat st {};
    if (::lstat(i->path().c_str(), &st) != 0 || S_ISDIR(st.st_mode) || st.st_nlink < 2) continue;
    auto& s = seen[{st.st_dev, st.st_ino}];
    s.first = st.st_nlink;
    ++s.second;
  }
  for (const auto& [id, s] : seen)
    if (s.second < s.first)
      fail("a file in the root has " + std::to_string(s.first) + " links but only " +
           std::to_string(s.second) + " inside the root: a hard link leads outside");
}

// Removes a tree whatever modes a layer gave its directories (the harness may run unprivileged).
void remove_tree(const fs::path& p) {
  struct stat st {};
  if (::lstat(p.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    ::chmod(p.c_str(), 0700);
    for (const auto& name : names_in(p)) remove_tree(p / name);
    if (::rmdir(p.c_str()) != 0) fail("cannot remove " + p.string());
  } else if (::unlink(p.c_str()) != 0) {
    fail("cannot remove " + p.string());
  }
}

// Applies the layer TOP/blobs/NAME to TOP/w/a/b/root.
void apply(const std::string& name) {
  jail inside;
  auto base = real_root < 0 ? top : fs::path{"/"};
  auto stats = image::apply_layer(base / "blobs" / name, image::media_type::oci_layer,
                                  base / "w" / "a" / "b" / "root");
  if (!stats && verbose)
    std::fprintf(stderr, "unpack: %s: %s\n", name.c_str(), berth::describe(stats.error()).c_str());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  berth::log::set_threshold(berth::log::level::error);
  if (const char* v = std::getenv("BERTH_FUZZ_VERBOSE"); v != nullptr && *v == '1') verbose = true;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string{tmp != nullptr && *tmp != '\0' ? tmp : "/tmp"} + "/berth-fuzz-unpack.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::perror("unpack: mkdtemp");
    std::exit(1);
  }
  top = pattern;
  top_parent = ::open(top.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  std::atexit([] {
    std::error_code ec;
    if (top_tmpfs)
      ::umount2(top.c_str(), MNT_DETACH);
    else
      fs::remove_all(top, ec);
    ::unlinkat(top_parent, top.filename().c_str(), AT_REMOVEDIR);
  });
  std::vector<fs::path> writable{top, fs::current_path()};
  for (int i = 1; i < *argc; ++i) {
    std::string_view a = (*argv)[i];
    if (a.empty()) continue;
    if (a[0] != '-') {
      writable.emplace_back(a);
    } else if (a.rfind("-artifact_prefix=", 0) == 0 || a.rfind("-exact_artifact_path=", 0) == 0) {
      fs::path p{std::string{a.substr(a.find('=') + 1)}};
      writable.push_back(p.has_filename() ? p.parent_path() : p);
    } else if (a.rfind("-fork=", 0) == 0 || a.rfind("-merge=", 0) == 0) {
      writable.push_back(fs::temp_directory_path());
    }
  }
  for (auto& w : writable)
    if (w.empty()) w = ".";
  confine(writable);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > max_input) return -1;
  std::string_view input{reinterpret_cast<const char*>(data), size};
  auto blobs = top / "blobs";
  auto root = top / "w" / "a" / "b" / "root";
  fs::create_directories(blobs);
  fs::create_directories(root);

  std::vector<std::string> layers;
  if (input.rfind(script_magic, 0) == 0) {
    for (const auto& entries : parse_script(input.substr(script_magic.size())))
      layers.push_back(make_tar(entries));
  } else {
    layers.emplace_back(input);
  }
  std::set<std::string> blob_names;
  for (size_t i = 0; i < layers.size(); ++i) {
    auto name = "layer" + std::to_string(i);
    blob_names.insert(name);
    std::ofstream{blobs / name, std::ios::binary} << layers[i];
  }
  // Everything outside the root, as it is before the layers.
  std::vector<fs::path> outside{top, blobs, top / "w", top / "w" / "a", top / "w" / "a" / "b"};
  for (const auto& name : blob_names) outside.push_back(blobs / name);
  auto before = states_of(outside);

  for (size_t i = 0; i < layers.size(); ++i) apply("layer" + std::to_string(i));

  expect_only(top, {"blobs", "w"});
  expect_only(blobs, blob_names);
  expect_only(top / "w", {"a"});
  expect_only(top / "w" / "a", {"b"});
  expect_only(top / "w" / "a" / "b", {"root"});
  auto after = states_of(outside);
  for (const auto& p : outside)
    if (before[p] != after[p])
      fail("something outside the root changed: " + p.string() + " was [" +
           before[p].substr(0, 80) + "], is [" + after[p].substr(0, 80) + "]");
  check_links(root);

  remove_tree(top / "w");
  remove_tree(blobs);
  return 0;
}
