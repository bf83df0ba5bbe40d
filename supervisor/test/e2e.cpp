// e2e.cpp: starting, using and checking the test process's berthd.
#include "e2e.hpp"

#include "berth/os/file.hpp"
#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <thread>

namespace berth::e2e {

fs::path bin_dir() {
  return BERTH_TEST_BIN_DIR;
}
fs::path source_dir() {
  return BERTH_TEST_SOURCE_DIR;
}

std::vector<pid_t> processes(const std::string& program, const std::string& needle) {
  std::vector<pid_t> out;
  for (auto& e : fs::directory_iterator("/proc")) {
    auto name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // A process that ends while it is read (ESRCH) is gone, not a match; libstdc++'s filebuf
    // would throw on that read, so read through os::read_file and skip what vanished.
    std::string cmd;
    try {
      cmd = os::read_file(e.path() / "cmdline", 1u << 20);
    } catch (const std::system_error&) {
      continue;
    }
    // argv[0] is an absolute path (berthd never searches PATH), or a bare name.
    auto argv0 = cmd.substr(0, cmd.find('\0'));
    auto base = argv0.substr(argv0.rfind('/') + 1);
    if (base.rfind(program, 0) == 0 && cmd.find(needle) != std::string::npos)
      out.push_back(std::stoi(name));
  }
  return out;
}

std::vector<pid_t> qemu_processes(const std::string& needle) {
  return processes("qemu-system", needle);
}

daemon& daemon::get() {
  static daemon d;
  return d;
}

namespace {
std::vector<std::string>& extra_args() {
  static std::vector<std::string> args;
  return args;
}
}  // namespace

void daemon::set_extra_args(std::vector<std::string> args) {
  extra_args() = std::move(args);
}

namespace {
bool& host_network() {
  static bool on = false;
  return on;
}
}  // namespace

void daemon::use_host_network() {
  host_network() = true;
}

namespace {
std::uint64_t& data_size() {
  static std::uint64_t bytes = 0;
  return bytes;
}
}  // namespace

void daemon::set_data_size(std::uint64_t bytes) {
  if (::unshare(CLONE_NEWNS) != 0) FAIL("unshare(CLONE_NEWNS): " << std::strerror(errno));
  // Mounts made here must not propagate back to the host's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
    FAIL("making / private: " << std::strerror(errno));
  data_size() = bytes;
}

namespace {
std::string netns_link(const std::string& pid) {
  std::error_code ec;
  return fs::read_symlink("/proc/" + pid + "/ns/net", ec).string();
}

void kill_holder(pid_t& holder) {
  if (holder <= 0) return;
  ::kill(holder, SIGKILL);
  ::waitpid(holder, nullptr, 0);
  holder = -1;
}
}  // namespace

daemon::daemon() {
  char tmpl[] = "/tmp/berth-e2e.XXXXXX";
  root_ = ::mkdtemp(tmpl);
  host_ = "unix://" + (root_ / "berthd.sock").string();
  if (data_size()) {
    fs::create_directories(data_root());
    auto opts = "size=" + std::to_string(data_size()) + ",mode=0700";
    if (::mount("tmpfs", data_root().c_str(), "tmpfs", 0, opts.c_str()) != 0)
      FAIL("mounting a tmpfs on the data root: " << std::strerror(errno));
  }
  // berthd makes bridges, taps and an nft table: never in the host's own network namespace. A
  // holder process keeps a private one alive across berthd restarts; berthd enters it. The
  // holder ends by itself when this process does (a test killed by ctest's timeout). Suites
  // that need the host's loopback run berthd here instead, without bridge networks.
  if (host_network()) {
    start_berthd();
  } else {
    holder_ = os::spawn(
        {"unshare", "-n", "sh", "-c",
         "while kill -0 " + std::to_string(::getpid()) + " 2>/dev/null; do sleep 1; done"});
    try {
      auto self_ns = netns_link("self");
      if (!eventually(
              [&] {
                auto ns = netns_link(std::to_string(holder_));
                return !ns.empty() && ns != self_ns;
              },
              std::chrono::seconds(10)))
        FAIL("no network namespace for berthd");
      if (in_netns({"ip", "link", "set", "lo", "up"}).code != 0)
        FAIL("cannot bring lo up in berthd's namespace");
      start_berthd();
    } catch (...) {
      kill_holder(holder_);  // a daemon that never came up has no destructor to do it
      throw;
    }
  }
  auto built = os::run(
      {"sh", (source_dir() / "scripts/fixtures/busybox-image.sh").string(), images().string()},
      std::chrono::seconds(60));
  if (built.exit_code != 0) FAIL("fixture image: " << built.errors);
  auto loaded = berth({"image", "load", "-i", (images() / "busybox.tar").string()});
  if (loaded.code != 0) FAIL("image load: " << loaded.err << "\n" << this->log());
}

void daemon::start_berthd() {
  auto log = root_ / "berthd.log";
  os::unique_fd out(::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  os::spawn_options opts;
  opts.stdout_fd = out.get();
  opts.stderr_fd = out.get();
  // nsenter execs berthd (no --fork), so pid_ is berthd's own.
  std::vector<std::string> argv = {
      "nsenter",     "--net=/proc/" + std::to_string(holder_) + "/ns/net",
      "--",          (bin_dir() / "berthd").string(),
      "--data-root", data_root().string(),
      "--run-root",  run_root().string(),
      "-H",          host_};
  if (holder_ <= 0) {
    argv.erase(argv.begin(), argv.begin() + 3);
    argv.push_back("--bridge=none");
    // A jailed berthd puts its jail table (inet berth_jail) in the namespace it runs in: never
    // the host's own.
    argv.push_back("--jail=false");
  }
  // The exit check below is of a stop that ends every container: suites that test live
  // restore ask for it (and remove their containers before the end).
  if (std::none_of(extra_args().begin(), extra_args().end(),
                   [](const std::string& a) { return a.rfind("--live-restore", 0) == 0; }))
    argv.push_back("--live-restore=false");
  argv.insert(argv.end(), extra_args().begin(), extra_args().end());
  if (const char* kernel = std::getenv("BERTH_TEST_KERNEL")) {
    argv.push_back("--kernel");
    argv.push_back(kernel);
  }
  pid_ = os::spawn(argv, opts);
  // Ready when it answers; a daemon that died (no kernel, no QEMU) fails the test with its log.
  bool up = eventually(
      [&] {
        int status;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;
        }
        return berth({"system", "info"}).code == 0;
      },
      std::chrono::seconds(120));
  if (!up || pid_ < 0) FAIL("berthd did not come up:\n" << this->log());
}

void daemon::stop_berthd(int sig) {
  if (pid_ <= 0) return;
  ::kill(pid_, sig);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void daemon::restart() {
  stop_berthd(SIGTERM);
  start_berthd();
}

int daemon::stop() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void daemon::crash_and_restart() {
  stop_berthd(SIGKILL);
  start_berthd();
}

void daemon::kill_berthd(int sig) {
  stop_berthd(sig);
}

int daemon::wait_exit(std::chrono::milliseconds limit) {
  if (pid_ <= 0) return -1;
  int status = 0;
  bool ended = eventually([&] { return ::waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
  if (!ended) return -1;
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string daemon::crash_actor(const std::string& target) const {
  try {
    auto c = rpc::client::connect(host_);
    c.call<api::empty>(api::method::debug_crash, api::crash_request{target});
    return {};
  } catch (const rpc::call_error& e) {
    return e.what();
  }
}

void daemon::start() {
  start_berthd();
}

pid_t daemon::qemu_pid(const std::string& container) const {
  auto r = berth({"inspect", container});
  auto pos = r.out.find("\"Pid\": ");
  if (pos == std::string::npos) return 0;
  return static_cast<pid_t>(std::stol(r.out.substr(pos + 7)));
}

long rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

pty_session::pty_session(const daemon& d, const std::vector<std::string>& args, uint16_t rows,
                         uint16_t cols) {
  winsize ws{rows, cols, 0, 0};
  std::vector<std::string> argv = {(bin_dir() / "berth").string(), "-H",
                                   "unix://" + (d.root() / "berthd.sock").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  pid_ = ::forkpty(&fd_, nullptr, nullptr, &ws);
  if (pid_ == 0) {
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  REQUIRE(pid_ > 0);
}

pty_session::~pty_session() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  if (fd_ >= 0) ::close(fd_);
}

void pty_session::type(const std::string& text) {
  [[maybe_unused]] auto n = ::write(fd_, text.data(), text.size());
}

bool pty_session::expect(const std::string& token, std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    if (auto pos = out_.find(token, seen_); pos != std::string::npos) {
      seen_ = pos + token.size();
      return true;
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    char buf[4096];
    auto n = ::read(fd_, buf, sizeof buf);
    if (n <= 0) return false;
    out_.append(buf, static_cast<std::size_t>(n));
  }
}

void pty_session::resize(uint16_t rows, uint16_t cols) {
  winsize ws{rows, cols, 0, 0};
  ::ioctl(fd_, TIOCSWINSZ, &ws);
}

int pty_session::wait(std::chrono::milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  int status = 0;
  for (;;) {
    // Keep draining the pty, or a CLI writing its last output would block.
    char buf[4096];
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      auto n = ::read(fd_, buf, sizeof buf);
      if (n > 0) out_.append(buf, static_cast<std::size_t>(n));
    }
    auto r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() > deadline) return -1;
  }
}

result daemon::in_netns(const std::vector<std::string>& cmd, std::chrono::seconds timeout) const {
  std::vector<std::string> argv;
  if (holder_ > 0) argv = {"nsenter", "--net=/proc/" + std::to_string(holder_) + "/ns/net", "--"};
  argv.insert(argv.end(), cmd.begin(), cmd.end());
  auto r = os::run(argv, timeout);
  return {r.exit_code, r.output, r.errors};
}

daemon::~daemon() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    auto left = qemu_processes(root_.string());
    std::error_code ec;
    bool sockets_left = fs::exists(root_ / "berthd.sock") ||
                        (fs::exists(run_root()) && !fs::is_empty(run_root(), ec));
    if (!clean || !left.empty() || sockets_left) {
      // Reported on stderr (Catch has finished by now) and through the exit status.
      std::cerr << "berthd did not stop cleanly (status " << status << ", " << left.size()
                << " QEMU left, sockets left: " << sockets_left << ")\n"
                << log();
      for (auto p : left) ::kill(p, SIGKILL);
      kill_holder(holder_);
      std::_Exit(1);
    }
  }
  kill_holder(holder_);
  if (data_size()) ::umount2(data_root().c_str(), MNT_DETACH);
  std::error_code ec;
  fs::remove_all(root_, ec);
}

result daemon::berth(const std::vector<std::string>& args, std::chrono::seconds timeout) const {
  std::vector<std::string> argv = {(bin_dir() / "berth").string(), "-H", host_};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = os::run(argv, timeout);
  return {r.exit_code, r.output, r.errors};
}

std::string daemon::ok(const std::vector<std::string>& args) const {
  auto r = berth(args);
  std::string cmd;
  for (auto& a : args) cmd += " " + a;
  INFO("berth" << cmd << "\nstderr: " << r.err << "\nberthd log (tail):\n"
               << log().substr(log().size() > 4000 ? log().size() - 4000 : 0));
  REQUIRE(r.code == 0);
  return r.out;
}

std::string daemon::log() const {
  std::ifstream in(root_ / "berthd.log");
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

}  // namespace berth::e2e
