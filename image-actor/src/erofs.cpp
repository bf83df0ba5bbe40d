// erofs.cpp: running mkfs.erofs (posix_spawn, argv only) and putting its image in place durably.
#include "berth/image/erofs.hpp"

#include "berth/image/log.hpp"
#include "util.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

extern char** environ;

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

struct spawn_result {
  int status = 0;
  std::string output;
};

// Runs argv[0] with stdin from /dev/null and stdout and stderr captured together.
caf::expected<spawn_result> run_captured(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    return make_error(errc::io, fmt::format("cannot create a pipe: {}", detail::error_text(errno)));
  detail::unique_fd read_end{fds[0]};
  detail::unique_fd write_end{fds[1]};
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, write_end.get(), STDERR_FILENO);
  // The daemon blocks signals for its sigwait thread; the child starts with defaults.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int err = args[0].find('/') == std::string::npos
              ? ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ)
              : ::posix_spawn(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) {
    if (err == ENOENT)
      return make_error(errc::unsupported,
                        fmt::format("{} not found (install erofs-utils)", args[0]));
    return make_error(errc::io, fmt::format("cannot run {}: {}", args[0], detail::error_text(err)));
  }
  write_end.reset();
  spawn_result result;
  char buf[4096];
  for (;;) {
    auto n = detail::read_some(read_end.get(), buf, sizeof(buf));
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
    if (result.output.size() > 2 * max_output_kept)
      result.output.erase(0, result.output.size() - max_output_kept);
  }
  while (::waitpid(pid, &result.status, 0) < 0) {
    if (errno != EINTR)
      return make_error(errc::internal,
                        fmt::format("cannot wait for {}: {}", args[0], detail::error_text(errno)));
  }
  if (result.output.size() > max_output_kept)
    result.output.erase(0, result.output.size() - max_output_kept);
  return result;
}

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
  auto run = run_captured(args);
  if (!run) return run.error();
  if (!WIFEXITED(run->status) || WEXITSTATUS(run->status) != 0) {
    auto how = WIFEXITED(run->status) ? fmt::format("exit {}", WEXITSTATUS(run->status))
                                      : fmt::format("signal {}", WTERMSIG(run->status));
    return make_error(errc::io, fmt::format("{} failed ({}): {}", options.mkfs, how,
                                            trim(std::move(run->output))));
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
