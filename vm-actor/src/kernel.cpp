// kernel.cpp: finding, unpacking and caching the guest kernel; resolving modules; writing the
// initramfs as a newc cpio with libarchive.
#include "berth/vm/kernel.hpp"

#include "berth/actors/log.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"
#include "berth/os/random.hpp"

#include <fmt/ranges.h>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace berth::vm {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger kernel_log("kernel");

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

bool is_elf(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in && std::string_view(magic, 4) ==
                   "\x7f"
                   "ELF";
}

bool is_bzimage(const std::string& head) {
  return head.size() > 0x206 && head.compare(0x202, 4, "HdrS") == 0;
}

// The module name of a .ko path or a modules.dep entry: basename without .ko, '-' as '_'.
std::string module_name(std::string_view path) {
  auto slash = path.rfind('/');
  auto base = std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
  for (auto ext : {".ko.xz", ".ko.zst", ".ko.gz", ".ko"})
    if (base.size() > std::strlen(ext) && base.ends_with(ext)) {
      base.resize(base.size() - std::strlen(ext));
      break;
    }
  for (auto& c : base)
    if (c == '-') c = '_';
  return base;
}

// Decompressors berth can run to cut a vmlinux out of a bzImage, with the magic they start at.
struct decompressor {
  std::string_view magic;
  std::vector<std::string> argv;
};

const std::vector<decompressor>& decompressors() {
  static const std::vector<decompressor> list = {
      {std::string_view("\xfd"
                        "7zXZ\x00",
                        6),
       {"xz", "-dc"}},
      {std::string_view("\x28\xb5\x2f\xfd", 4), {"zstd", "-dcq"}},
      {std::string_view("\x1f\x8b\x08", 3), {"gzip", "-dc"}},
      {std::string_view("\x02\x21\x4c\x18", 4), {"lz4", "-dc"}},
      {std::string_view("BZh", 3), {"bzip2", "-dc"}},
  };
  return list;
}

// Decompresses the kernel payload of `bz` into `out` (an ELF) or fails.
caf::expected<void> extract_vmlinux(const fs::path& bz, const std::string& data,
                                    const fs::path& out) {
  auto tmp = out.string() + ".tmp-" + os::random_hex(4);
  for (const auto& d : decompressors()) {
    for (auto pos = data.find(d.magic); pos != std::string::npos;
         pos = data.find(d.magic, pos + 1)) {
      os::unique_fd in(::open(bz.c_str(), O_RDONLY | O_CLOEXEC));
      os::unique_fd dst(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
      if (!in || !dst) return make_error(errc::io, "cannot open " + bz.string() + " or " + tmp);
      ::lseek(in.get(), static_cast<off_t>(pos), SEEK_SET);
      try {
        // The payload is followed by other data; decompressors complain about that but the
        // stream they wrote is complete, so judge by the result.
        os::run(d.argv, std::chrono::seconds(120), 4096, in.get(), dst.get());
      } catch (const std::system_error&) {
        break;  // this decompressor is not installed; try the next kind
      }
      // Readable by every jailed QEMU's uid (berthd's umask is 077): a kernel holds no secret.
      ::fchmod(dst.get(), 0644);
      ::fsync(dst.get());
      dst.reset();
      if (is_elf(tmp)) {
        fs::rename(tmp, out);
        os::fsync_dir(out.parent_path());
        return caf::unit;
      }
    }
  }
  ::unlink(tmp.c_str());
  return make_error(errc::unsupported, "cannot find a compressed vmlinux in " + bz.string() +
                                           " (tried xz, zstd, gzip, lz4, bzip2)");
}

// At most `n` leading bytes of a file.
std::string read_prefix(const fs::path& p, std::size_t n) {
  std::ifstream in(p, std::ios::binary);
  std::string out;
  std::vector<char> buf(1 << 20);
  while (in && out.size() < n) {
    in.read(buf.data(), static_cast<std::streamsize>(std::min(buf.size(), n - out.size())));
    out.append(buf.data(), static_cast<std::size_t>(in.gcount()));
  }
  return out;
}

// 64-bit FNV-1a, for cache keys (not for integrity: blobs use sha256).
uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string file_stamp(const fs::path& p) {
  struct stat st {};
  if (::stat(p.c_str(), &st) != 0) return {};
  return std::to_string(st.st_size) + ":" + std::to_string(st.st_mtim.tv_sec) + "." +
         std::to_string(st.st_mtim.tv_nsec) + ":" + std::to_string(st.st_ino);
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

}  // namespace

std::string kernel_release(const fs::path& image) {
  auto head = read_prefix(image, 0x10000);
  if (is_bzimage(head)) {
    // boot protocol: kernel_version at 0x20e points (minus 0x200) at "<release> (...) #..."
    auto ptr =
        static_cast<unsigned char>(head[0x20e]) | (static_cast<unsigned char>(head[0x20f]) << 8);
    std::size_t at = static_cast<std::size_t>(ptr) + 0x200;
    if (ptr != 0 && at < head.size()) {
      auto end = head.find_first_of(" \0", at, 2);
      if (end != std::string::npos) return head.substr(at, end - at);
    }
  }
  std::ifstream in(image, std::ios::binary);
  constexpr std::string_view needle = "Linux version ";
  std::string carry;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    std::string chunk = carry + std::string(buf.data(), static_cast<std::size_t>(in.gcount()));
    if (auto pos = chunk.find(needle); pos != std::string::npos) {
      auto start = pos + needle.size();
      auto end = chunk.find(' ', start);
      if (end != std::string::npos) return chunk.substr(start, end - start);
    }
    carry = chunk.size() > 128 ? chunk.substr(chunk.size() - 128) : chunk;
  }
  return {};
}

caf::expected<kernel_info> prepare_kernel(const fs::path& kernel, const fs::path& cache_dir) {
  kernel_info info;
  info.source = kernel;
  std::error_code ec;
  auto resolved = fs::canonical(kernel, ec);
  if (ec) return make_error(errc::not_found, "kernel not found: " + kernel.string());
  if (fs::is_directory(resolved)) {
    // An unpacked kernel package: boot/vmlinuz-<release> and lib/modules/<release>.
    std::vector<fs::path> images;
    for (auto& e : fs::directory_iterator(resolved / "boot", ec))
      if (starts_with(e.path().filename().string(), "vmlinuz-")) images.push_back(e.path());
    if (images.size() != 1)
      return make_error(errc::invalid_argument,
                        "expected exactly one boot/vmlinuz-* in " + resolved.string());
    info.image = images[0];
    info.release = images[0].filename().string().substr(std::strlen("vmlinuz-"));
    info.modules_dir = resolved / "lib" / "modules" / info.release;
  } else {
    info.image = resolved;
    info.release = kernel_release(resolved);
    for (auto candidate : {resolved.parent_path().parent_path() / "lib" / "modules" / info.release,
                           fs::path("/lib/modules") / info.release})
      if (!info.release.empty() && fs::exists(candidate / "modules.dep")) {
        info.modules_dir = candidate;
        break;
      }
  }
  if (!info.modules_dir.empty() && !fs::exists(info.modules_dir / "modules.dep"))
    return make_error(errc::invalid_argument,
                      "no modules.dep in " + info.modules_dir.string() + " (run depmod -b)");
  if (is_elf(info.image)) {
    info.boot_image = info.image;
    return info;
  }
  auto data = read_prefix(info.image, 256u << 20);
  if (!is_bzimage(data))
    return make_error(errc::invalid_argument,
                      info.image.string() + " is neither a bzImage nor an ELF vmlinux");
  auto dir = cache_dir / "kernel" / (info.release + "-" + hex64(fnv1a(file_stamp(info.image))));
  info.boot_image = dir / "vmlinux";
  if (is_elf(info.boot_image)) return info;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());
  kernel_log.info("extracting vmlinux from {} into {}", info.image.string(), dir.string());
  if (auto r = extract_vmlinux(info.image, data, info.boot_image); !r) {
    // Booting the bzImage itself works too, only slower.
    kernel_log.warn("{}; booting the compressed image", describe(r.error()));
    info.boot_image = info.image;
  }
  return info;
}

std::vector<std::string> guest_modules(bool vsock) {
  std::vector<std::string> names = {"crc32c_generic", "virtio_mmio", "virtio_blk", "virtio_console",
                                    "virtio_balloon", "erofs",       "ext4",       "overlay"};
  if (vsock) names.push_back("vmw_vsock_virtio_transport");
  return names;
}

caf::expected<std::vector<fs::path>> resolve_modules(const fs::path& modules_dir,
                                                     const std::vector<std::string>& names) {
  std::map<std::string, std::pair<std::string, std::vector<std::string>>>
      deps;  // name -> path, deps
  std::set<std::string> builtin;
  std::map<std::string, std::vector<std::string>> pre;       // softdep pre:
  std::vector<std::pair<std::string, std::string>> aliases;  // pattern, module
  {
    std::ifstream in(modules_dir / "modules.dep");
    if (!in)
      return make_error(errc::not_found, "cannot read " + (modules_dir / "modules.dep").string());
    std::string line;
    while (std::getline(in, line)) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto path = line.substr(0, colon);
      std::istringstream rest(line.substr(colon + 1));
      std::vector<std::string> d;
      for (std::string dep; rest >> dep;) d.push_back(module_name(dep));
      deps[module_name(path)] = {path, std::move(d)};
    }
  }
  {
    std::ifstream in(modules_dir / "modules.builtin");
    for (std::string line; std::getline(in, line);) builtin.insert(module_name(line));
  }
  {
    std::ifstream in(modules_dir / "modules.softdep");
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string kw, mod, word;
      if (!(words >> kw >> mod) || kw != "softdep") continue;
      bool in_pre = false;
      while (words >> word) {
        if (word == "pre:")
          in_pre = true;
        else if (word == "post:")
          in_pre = false;
        else if (in_pre)
          pre[module_name(mod)].push_back(word);
      }
    }
  }
  {
    std::ifstream in(modules_dir / "modules.alias");
    for (std::string line; std::getline(in, line);) {
      std::istringstream words(line);
      std::string kw, pattern, mod;
      if (words >> kw >> pattern >> mod && kw == "alias")
        aliases.emplace_back(pattern, module_name(mod));
    }
  }
  std::vector<fs::path> order;
  std::set<std::string> done;
  std::function<caf::expected<void>(const std::string&, int)> visit;
  visit = [&](const std::string& raw, int depth) -> caf::expected<void> {
    if (depth > 32) return make_error(errc::invalid_argument, "module dependencies loop at " + raw);
    auto name = module_name(raw);
    if (done.count(name)) return caf::unit;
    auto it = deps.find(name);
    if (it == deps.end()) {
      if (builtin.count(name)) {
        done.insert(name);
        return caf::unit;
      }
      // An alias (crypto-crc32c): every module providing it, since some (crc32c_intel) refuse to
      // load on CPUs without their instructions and the generic one must then be there.
      bool any = false;
      for (auto& [pattern, mod] : aliases)
        if (pattern == raw && deps.count(mod)) any = visit(mod, depth + 1) || any;
      if (any) return caf::unit;
      return make_error(errc::not_found,
                        "kernel module " + raw + " not found in " + modules_dir.string());
    }
    done.insert(name);
    for (auto& soft : pre[name])
      if (auto r = visit(soft, depth + 1); !r)
        kernel_log.warn("softdep {} of {}: {}", soft, name, describe(r.error()));
    // modules.dep lists every transitive dependency; visit each so its own come first.
    for (auto& dep : it->second.second)
      if (auto r = visit(dep, depth + 1); !r) return r;
    order.push_back(modules_dir / it->second.first);
    return caf::unit;
  };
  for (auto& n : names)
    if (auto r = visit(n, 0); !r) return r.error();
  return order;
}

std::map<std::string, std::vector<std::string>> optional_module_sets() {
  return {{"9p", {"9p", "9pnet_virtio"}}, {"net", {"virtio_net"}}};
}

caf::expected<initramfs_info> build_initramfs(
    const kernel_info& kernel, const fs::path& agent, const std::vector<std::string>& modules,
    const std::map<std::string, std::vector<std::string>>& sets, const fs::path& cache_dir) {
  initramfs_info result;
  std::vector<fs::path> files;
  std::map<std::string, std::vector<fs::path>> set_files;
  if (!kernel.modules_dir.empty()) {
    auto resolved = resolve_modules(kernel.modules_dir, modules);
    if (!resolved) return resolved.error();
    files = std::move(*resolved);
    for (auto& [name, mods] : sets) {
      auto r = resolve_modules(kernel.modules_dir, mods);
      if (!r) {
        kernel_log.info("kernel {} has no {} modules ({}): that feature is off", kernel.release,
                        name, describe(r.error()));
        continue;
      }
      set_files[name] = std::move(*r);
      result.sets.insert(name);
    }
  }
  if (!fs::exists(agent))
    return make_error(errc::not_found, "guest agent not found: " + agent.string());
  std::string key = kernel.release + "|" + file_stamp(agent);
  for (auto& f : files) key += "|" + f.string() + ":" + file_stamp(f);
  for (auto& [name, fl] : set_files) {
    key += "|set " + name;
    for (auto& f : fl) key += "|" + f.string() + ":" + file_stamp(f);
  }
  auto dir = cache_dir / "initramfs";
  auto out = dir / (kernel.release + "-" + hex64(fnv1a(key)) + ".cpio");
  result.path = out;
  std::error_code ec;
  if (fs::exists(out, ec)) return result;
  fs::create_directories(dir, ec);
  if (ec) return make_error(errc::io, "cannot create " + dir.string() + ": " + ec.message());

  auto tmp = out.string() + ".tmp-" + os::random_hex(4);
  std::unique_ptr<archive, decltype(&archive_write_free)> ar(archive_write_new(),
                                                             archive_write_free);
  archive_write_set_format_cpio_newc(ar.get());
  archive_write_add_filter_none(ar.get());
  if (archive_write_open_filename(ar.get(), tmp.c_str()) != ARCHIVE_OK)
    return make_error(errc::io, "cannot write " + tmp + ": " + archive_error_string(ar.get()));
  auto fail = [&](const std::string& what) -> caf::error {
    auto msg =
        what + ": " + (archive_error_string(ar.get()) ? archive_error_string(ar.get()) : "?");
    ar.reset();
    ::unlink(tmp.c_str());
    return make_error(errc::io, msg);
  };
  auto add = [&](const std::string& name, mode_t type, mode_t perm, const std::string& data,
                 dev_t rdev = 0) -> bool {
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> e(archive_entry_new(),
                                                                    archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
    if (rdev) archive_entry_set_rdev(e.get(), rdev);
    archive_entry_set_nlink(e.get(), type == AE_IFDIR ? 2 : 1);
    if (archive_write_header(ar.get(), e.get()) != ARCHIVE_OK) return false;
    if (!data.empty() && archive_write_data(ar.get(), data.data(), data.size()) !=
                             static_cast<la_ssize_t>(data.size()))
      return false;
    return true;
  };
  for (auto d : {"dev", "proc", "sys", "run", "tmp", "lib", "lib/modules"})
    if (!add(d, AE_IFDIR, 0755, {})) return fail(std::string("add ") + d);
  if (!add("dev/console", AE_IFCHR, 0600, {}, makedev(5, 1))) return fail("add dev/console");
  try {
    if (!add("init", AE_IFREG, 0755, os::read_file(agent, 64u << 20))) return fail("add init");
    std::string list;
    for (auto& f : files) {
      auto name = f.filename().string();
      if (!add("lib/modules/" + name, AE_IFREG, 0644, os::read_file(f, 64u << 20)))
        return fail("add " + name);
      list += name + "\n";
    }
    if (!add("lib/modules/load.list", AE_IFREG, 0644, list)) return fail("add load.list");
    std::set<std::string> added;
    for (auto& f : files) added.insert(f.filename().string());
    for (auto& [name, fl] : set_files) {
      std::string set_list;
      for (auto& f : fl) {
        auto file = f.filename().string();
        if (added.insert(file).second &&
            !add("lib/modules/" + file, AE_IFREG, 0644, os::read_file(f, 64u << 20)))
          return fail("add " + file);
        set_list += file + "\n";
      }
      if (!add("lib/modules/" + name + ".list", AE_IFREG, 0644, set_list))
        return fail("add " + name + ".list");
    }
  } catch (const std::system_error& e) {
    return fail(e.what());
  }
  if (archive_write_close(ar.get()) != ARCHIVE_OK) return fail("close");
  ar.reset();
  {
    os::unique_fd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
    // Readable by every jailed QEMU's uid: berth-init and kernel modules, no secret.
    if (fd) ::fchmod(fd.get(), 0644);
    if (fd) ::fsync(fd.get());
  }
  fs::rename(tmp, out, ec);
  if (ec) return make_error(errc::io, "cannot rename " + tmp + ": " + ec.message());
  os::fsync_dir(dir);
  kernel_log.info("built initramfs {} ({} modules at boot, sets: {})", out.string(), files.size(),
                  fmt::join(result.sets, ", "));
  return result;
}

}  // namespace berth::vm
