// erofs.cpp: running mkfs.erofs (posix_spawn, argv only) and putting its image in place durably.
#include "berth/image/erofs.hpp"

#include "berth/image/log.hpp"
#include "util.hpp"

#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace berth::image {

namespace fs = std::filesystem;
using detail::invalid;
using detail::io_error;

namespace {

// How much of mkfs.erofs's output is kept for an error message.
constexpr size_t max_output_kept = 4096;

// Deletes a temporary file unless released.
struct temp_file {
  std::string path;
  ~temp_file() {
    if (!path.empty()) ::unlink(path.c_str());
  }
};

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

caf::expected<uint64_t> build_erofs(const fs::path& rootfs, const fs::path& output,
                                    const erofs_options& options) {
  struct stat st {};
  if (::stat(rootfs.c_str(), &st) != 0) {
    if (errno == ENOENT)
      return make_error(errc::not_found, fmt::format("{} does not exist", rootfs.string()));
    return io_error("cannot stat", rootfs, errno);
  }
  if (!S_ISDIR(st.st_mode)) return invalid("{} is not a directory", rootfs.string());
  if (output.filename().empty()) return invalid("{} names no file", output.string());
  auto dir = output.has_parent_path() ? output.parent_path() : fs::path{"."};
  temp_file tmp{output.string() + ".tmp-XXXXXX"};
  int fd = ::mkostemp(tmp.path.data(), O_CLOEXEC);
  if (fd < 0) {
    auto e = io_error("cannot create", tmp.path, errno);
    tmp.path.clear();
    return e;
  }
  ::close(fd);
  std::vector<std::string> args{options.mkfs};
  args.insert(args.end(), options.extra_args.begin(), options.extra_args.end());
  args.push_back(tmp.path);
  args.push_back(rootfs.string());
  auto started = std::chrono::steady_clock::now();
  os::run_result run;
  try {
    run = os::run(args, std::nullopt, max_output_kept);
  } catch (const std::system_error& e) {
    if (e.code().value() == ENOENT)
      return make_error(errc::unsupported,
                        fmt::format("{} not found (install erofs-utils)", options.mkfs));
    return make_error(errc::io, fmt::format("cannot run {}: {}", options.mkfs, e.what()));
  }
  if (run.exit_code != 0) {
    auto how = run.exit_code > 128 ? fmt::format("signal {}", run.exit_code - 128)
                                   : fmt::format("exit {}", run.exit_code);
    return make_error(errc::io, fmt::format("{} failed ({}): {}", options.mkfs, how,
                                            trim(run.errors + run.output)));
  }
  detail::unique_fd image{::open(tmp.path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (!image) return io_error("cannot open", tmp.path, errno);
  if (::fsync(image.get()) != 0) return io_error("cannot sync", tmp.path, errno);
  if (::fstat(image.get(), &st) != 0) return io_error("cannot stat", tmp.path, errno);
  image.reset();
  if (::rename(tmp.path.c_str(), output.c_str()) != 0)
    return io_error("cannot rename into", output, errno);
  tmp.path.clear();
  if (int err = detail::fsync_dir(dir); err != 0) return io_error("cannot sync", dir, err);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started);
  image_log.debug("built {} ({} bytes) in {} ms", output.string(), st.st_size, ms.count());
  return static_cast<uint64_t>(st.st_size);
}

}  // namespace berth::image
