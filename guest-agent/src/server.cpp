// server.cpp: the agent's poll() loop, its request handlers and process bookkeeping.
//
// Each loop iteration, in this order: a stop request; SIGCHLD (reap, drain the pipes of exited
// processes, queue their last output and their exit); output pipes and ptys; stdin pipes and ptys
// that take more input; a new host connection; requests from the host; then as much of the outbox
// as the host takes. Reaping before accepting a connection means a process that exited while no
// host was there is reported on the new one.
//
// Flow control both ways: a process whose output the host has not taken (1 MiB queued) is not
// read until the queue is under 256 KiB, so it blocks in write(); a `stdin` call is answered only
// once its bytes are in the pipe, so a host that waits for answers cannot flood the agent.
#include "auth.hpp"
#include "berth/os/fd.hpp"
#include "exec.hpp"
#include "files.hpp"
#include "log.hpp"
#include "mounts.hpp"
#include "network.hpp"
#include "outbox.hpp"
#include "stats.hpp"
#include "users.hpp"

#include "berth/agent/handshake.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/agent/server.hpp"
#include "berth/rpc/codec.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#ifndef BERTH_AGENT_VERSION
#define BERTH_AGENT_VERSION "0.0.0"
#endif

namespace berth::agent {

std::string_view agent_version() {
  return "berth-init " BERTH_AGENT_VERSION;
}

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Bytes read from a pipe or the connection at once; also the largest output chunk.
constexpr std::size_t chunk_size = 64 * 1024;

// While no host is connected, how often a port is checked for one.
constexpr milliseconds probe_interval{20};

// When a process exits, at most this much is drained from each of its pipes (a grandchild that
// keeps the pipe open and writes forever must not hold the loop).
constexpr std::size_t drain_limit = 4u << 20;

// While a host is connected, a process with this much output queued is not read any more...
constexpr std::size_t output_pause = 1u << 20;
// ...until its queue is below this.
constexpr std::size_t output_resume = 256u << 10;

// Bytes of one `stdin` call, and bytes of stdin a process may have waiting in the agent (a host
// that does not wait for the answers gets conflict beyond that, instead of filling the VM).
constexpr std::size_t max_stdin_chunk = 1u << 20;
constexpr std::size_t max_stdin_queued = 8u << 20;

// The largest answer the agent builds: the host's decoder takes messages of at most 8 MiB
// (berth::rpc::limits::max_message), counted with whatever else it has buffered.
constexpr std::size_t max_answer = 7u << 20;

// Exited exec processes (those that joined another) whose exit the agent still answers `wait`
// for; older ones are forgotten, so a long-lived container with frequent execs or health checks
// does not grow the agent's table. Their exit notifications were queued when they exited.
constexpr std::size_t max_exited_execs = 32;

// Bytes for a process's stdin, or its end, waiting to be written.
struct stdin_op {
  std::vector<char> data;
  std::size_t written = 0;
  bool close = false;             // then close the pipe (on a pty `data` is the VEOF character)
  std::optional<uint32_t> reply;  // the call to answer when done; none after a disconnect
};

enum class stdin_state { none, open, closed };

struct process {
  std::string id;
  pid_t pid = -1;
  int fds[2] = {-1, -1};  // read ends of stdout and stderr; a terminal: its master, then -1
  int in_fd = -1;         // write end of the stdin pipe (not with a terminal)
  int tty_fd = -1;        // a terminal's master, for stdin and resize
  bool terminal = false;
  bool joined = false;  // an exec in another process's namespaces, not a container's main process
  stdin_state input = stdin_state::none;
  std::deque<stdin_op> pending;  // stdin not written yet, in call order
  std::size_t pending_bytes = 0;
  bool paused = false;  // output not read until the host takes what is queued
  bool exited = false;
  exit_status status;
  std::vector<uint32_t> waiters;  // request ids of `wait` calls on the current connection
  std::size_t dropped = 0;        // output bytes dropped while no host was there

  // Where stdin goes: the pipe or the pty master.
  int input_fd() const { return terminal ? tty_fd : in_fd; }
};

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

exit_status status_of(const std::string& id, int wstatus) {
  exit_status s;
  s.id = id;
  if (WIFSIGNALED(wstatus)) {
    s.signal = WTERMSIG(wstatus);
    s.exit_code = 128 + s.signal;
  } else {
    s.exit_code = WEXITSTATUS(wstatus);
  }
  return s;
}

int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<milliseconds>(deadline - clock_type::now()).count();
  return left < 0 ? 0 : static_cast<int>(left) + 1;
}

}  // namespace

struct server::impl {
  impl(std::unique_ptr<transport> t, server_options o)
      : transport_(std::move(t)),
        opts_(std::move(o)),
        stack_(opts_.run_dir),
        gate_(std::in_place, opts_.key, *transport_, opts_.handshake_timeout) {
    sigset_t set;
    ::sigemptyset(&set);
    ::sigaddset(&set, SIGCHLD);
    // A write to the stdin pipe of a process that closed it is an EPIPE, not a dead agent.
    sigset_t blocked = set;
    ::sigaddset(&blocked, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
    signal_fd_ = ::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    stop_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (signal_fd_ < 0 || stop_fd_ < 0)
      throw std::runtime_error(std::string("signalfd/eventfd: ") + std::strerror(errno));
    buf_.resize(chunk_size);
  }

  ~impl() {
    for (auto& [id, p] : procs_) {
      if (p->exited) continue;
      ::kill(-p->pid, SIGKILL);
      ::kill(p->pid, SIGKILL);
      while (::waitpid(p->pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      close_pipes(*p);
      close_fd(p->in_fd);
      close_fd(p->tty_fd);
    }
    if (conn_ >= 0) transport_->disconnect(conn_);
    gate_.reset();
    ::close(signal_fd_);
    ::close(stop_fd_);
  }

  // --- the loop -------------------------------------------------------------------------------

  bool run_once(int timeout_ms) {
    if (finished_) return false;
    probe_if_due();
    forget_old_execs();

    std::vector<pollfd> fds;
    fds.push_back({stop_fd_, POLLIN, 0});
    fds.push_back({signal_fd_, POLLIN, 0});
    int listen_fd = transport_->listen_fd();
    std::size_t listen_at = 0, conn_at = 0;
    if (listen_fd >= 0) {
      listen_at = fds.size();
      fds.push_back({listen_fd, POLLIN, 0});
    }
    if (conn_ >= 0) {
      conn_at = fds.size();
      fds.push_back({conn_, static_cast<short>(POLLIN | (out_.empty() ? 0 : POLLOUT)), 0});
    }
    // Connections that have not proved the key yet.
    std::size_t gate_at = fds.size();
    gate_->add_poll_fds(fds);
    std::size_t gate_count = fds.size() - gate_at;
    // Pipes of processes whose output the host is not taking stay unread (backpressure); while
    // no host is there they are read, and what exceeds the bound is dropped.
    struct pipe_ref {
      process* proc;
      int index;
    };
    std::vector<pipe_ref> pipes;
    std::size_t pipes_at = fds.size();
    for (auto& [id, p] : procs_) {
      if (p->exited || !reading(*p)) continue;
      for (int k = 0; k < 2; ++k) {
        if (p->fds[k] < 0) continue;
        fds.push_back({p->fds[k], POLLIN, 0});
        pipes.push_back({p.get(), k});
      }
    }
    std::vector<process*> inputs;
    std::size_t inputs_at = fds.size();
    for (auto& [id, p] : procs_) {
      if (p->exited || p->pending.empty() || p->input_fd() < 0) continue;
      fds.push_back({p->input_fd(), POLLOUT, 0});
      inputs.push_back(p.get());
    }

    int timeout = timeout_ms;
    if (conn_ < 0 && listen_fd < 0 && gate_->empty()) {
      int probe = remaining_ms(next_probe_);
      timeout = timeout < 0 ? probe : std::min(timeout, probe);
    }
    if (int handshake = gate_->timeout_ms(); handshake >= 0)
      timeout = timeout < 0 ? handshake : std::min(timeout, handshake);
    int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0) {
      if (errno != EINTR) log("poll: %s", std::strerror(errno));
      return true;
    }

    if (fds[0].revents) {
      uint64_t value;
      [[maybe_unused]] auto r = ::read(stop_fd_, &value, sizeof value);
      finished_ = true;
      result_ = run_result::stopped;
      return false;
    }
    if (fds[1].revents) reap();
    for (std::size_t i = 0; i < pipes.size(); ++i) {
      const auto& ref = pipes[i];
      if (!fds[pipes_at + i].revents) continue;
      // The process may have exited (and its pipes been drained and closed) in reap() above.
      if (ref.proc->exited || ref.proc->fds[ref.index] != fds[pipes_at + i].fd) continue;
      read_pipe(*ref.proc, ref.index);
    }
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto* p = inputs[i];
      if (!fds[inputs_at + i].revents || p->exited || p->input_fd() != fds[inputs_at + i].fd)
        continue;
      write_input(*p);
    }
    if (listen_fd >= 0 && fds[listen_at].revents) accept_host();
    if (conn_at != 0 && conn_ == fds[conn_at].fd && fds[conn_at].revents)
      read_connection(fds[conn_at].revents);
    if (int fd = gate_->service(fds.data() + gate_at, gate_count); fd >= 0) {
      if (conn_ >= 0) {
        log("a host that proved the key replaces the current connection");
        detach();
      }
      attach(fd);
    }
    flush();

    if (shutdown_requested_) {
      shut_down();
      finished_ = true;
      result_ = run_result::shutdown;
      return false;
    }
    return true;
  }

  void stop() {
    uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(stop_fd_, &one, sizeof one);
  }

  // --- the connection -------------------------------------------------------------------------

  void probe_if_due() {
    if (conn_ >= 0 || transport_->listen_fd() >= 0 || !gate_->empty()) return;
    auto now = clock_type::now();
    if (now < next_probe_) return;
    int fd = transport_->connect();
    if (fd < 0)
      next_probe_ = now + probe_interval;
    else if (!opts_.key.empty())
      gate_->admit(fd);
    else
      attach(fd);
  }

  // With a key, a new connection goes to the gate and the current one keeps being served until
  // the new one has proved the key; without (host mode), it replaces the current one at once.
  void accept_host() {
    int fd = transport_->connect();
    if (fd < 0) return;
    if (!opts_.key.empty()) {
      gate_->admit(fd);
      return;
    }
    if (conn_ >= 0) {
      log("a new host connection replaces the current one");
      detach();
    }
    attach(fd);
  }

  void attach(int fd) {
    conn_ = fd;
    struct stat st {};
    conn_is_socket_ = ::fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
    reset_decoder();
    out_.replay();  // what the previous host may not have kept
    log("host connected (%s)", transport_->name().c_str());
    for (auto& [id, p] : procs_) {
      if (p->dropped == 0) continue;
      log("dropped %zu bytes of output of process %s while no host was connected", p->dropped,
          id.c_str());
      p->dropped = 0;
    }
  }

  void detach() {
    transport_->disconnect(conn_);
    conn_ = -1;
    reset_decoder();
    forget_host();
    next_probe_ = clock_type::now() + probe_interval;
    log("host disconnected; %zu messages queued", out_.size());
    if (opts_.stop_on_disconnect) stop();
  }

  // What belonged to the host that went away: its answers, queued or owed.
  void forget_host() {
    out_.disconnected();
    for (auto& [id, p] : procs_) {
      p->waiters.clear();
      // The bytes are still written; only the answers belonged to the old connection.
      for (auto& op : p->pending) op.reply.reset();
    }
  }

  // The auth request (id 0) inside a session on a port. On virtio-serial, a host that hangs up
  // and a new one that connects within the same few milliseconds can leave no hangup for poll()
  // to see (the port is one descriptor for the VM's life): the new host's handshake then arrives
  // here, as an ordinary request. With the right key in the one encoding, it is that new host,
  // and its session starts now, answered first with auth_accepted; otherwise auth_refused, and
  // the current session goes on.
  void reauthenticate(const rpc::message& msg) {
    bool right = !opts_.key.empty() &&
                 equal_constant_time(rpc::pack(msg.handle.get()), auth_request(opts_.key));
    if (!right) {
      log("refused an auth request inside the session");
      out_.response(std::string(auth_refused));
      return;
    }
    log("a host that proved the key again replaces the current one (it reconnected unseen)");
    forget_host();
    out_.replay();
    out_.first(std::string(auth_accepted));
  }

  void read_connection(short revents) {
    if (revents & POLLIN) {
      ssize_t n = ::read(conn_, buf_.data(), buf_.size());
      if (n > 0) {
        feed(buf_.data(), static_cast<std::size_t>(n));
        return;
      }
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        if (!(revents & (POLLHUP | POLLERR))) return;
      }
      detach();  // end of file, a read error, or a hangup with nothing to read
      return;
    }
    if (revents & (POLLHUP | POLLERR | POLLNVAL)) detach();
  }

  void feed(const char* data, std::size_t size) {
    try {
      decoder_->feed(data, size);
      rpc::message msg;
      while (!shutdown_requested_ && decoder_->next(msg)) handle(msg);
    } catch (const rpc::protocol_error& e) {
      log("protocol error from the host: %s; discarding buffered input", e.what());
      reset_decoder();
    }
  }

  // A fresh decoder, built in place: rpc::decoder::reset() move-assigns a msgpack::unpacker,
  // whose parser keeps a reference to the temporary's buffer hook (msgpack-c 4.x), and the next
  // buffer expansion then writes through a dangling reference.
  void reset_decoder() { decoder_.emplace(); }

  void flush() {
    if (conn_ < 0 || out_.empty()) return;
    if (out_.flush(conn_, conn_is_socket_) == outbox::flush_result::failed) {
      log("write to the host failed: %s", std::strerror(errno));
      detach();
    }
  }

  // Writes queued messages until they are out or `deadline` passes.
  void flush_until(clock_type::time_point deadline) {
    while (conn_ >= 0 && !out_.empty()) {
      flush();
      if (conn_ < 0 || out_.empty() || clock_type::now() >= deadline) return;
      pollfd p{conn_, POLLOUT, 0};
      ::poll(&p, 1, remaining_ms(deadline));
    }
  }

  // --- requests -------------------------------------------------------------------------------

  template <class T>
  void reply(uint32_t id, const T& value) {
    out_.response(rpc::encode_result(id, value));
  }

  void handle(rpc::message& msg) {
    if (msg.type != rpc::kind::request) return;  // the host sends nothing else the agent uses
    try {
      dispatch(msg);
    } catch (const rpc::call_error& e) {
      out_.response(rpc::encode_error(msg.id, e.code(), e.what()));
    } catch (const std::exception& e) {
      log("%s failed: %s", msg.method.c_str(), e.what());
      out_.response(rpc::encode_error(msg.id, errc::internal, e.what()));
    }
  }

  void dispatch(rpc::message& msg) {
    const auto& m = msg.method;
    if (m == method::auth && msg.id == 0 && transport_->listen_fd() < 0)
      reauthenticate(msg);
    else if (m == method::version)
      reply(msg.id, version(rpc::arg<version_request>(msg)));
    else if (m == method::ping)
      reply(msg.id, empty{});
    else if (m == method::mount_root)
      mount_root(msg.id, rpc::arg<mount_spec>(msg));
    else if (m == method::start)
      reply(msg.id, start(rpc::arg<process_spec>(msg)));
    else if (m == method::wait)
      wait(msg.id, rpc::arg<process_ref>(msg));
    else if (m == method::signal)
      signal(msg.id, rpc::arg<signal_request>(msg));
    else if (m == method::stdin_data)
      stdin_data(msg.id, rpc::arg<stdin_chunk>(msg));
    else if (m == method::close_stdin)
      close_stdin(msg.id, rpc::arg<process_ref>(msg));
    else if (m == method::resize)
      reply(msg.id, resize(rpc::arg<resize_request>(msg)));
    else if (m == method::stats)
      reply(msg.id, collect_stats());
    else if (m == method::stat)
      reply(msg.id, files().stat(rpc::arg<path_request>(msg).path));
    else if (m == method::list)
      list(msg.id, rpc::arg<path_request>(msg));
    else if (m == method::read)
      reply(msg.id, files().read(rpc::arg<read_request>(msg)));
    else if (m == method::mkdir) {
      files().mkdir(rpc::arg<file_info>(msg));
      reply(msg.id, empty{});
    } else if (m == method::write) {
      files().write(rpc::arg<write_request>(msg));
      reply(msg.id, empty{});
    } else if (m == method::symlink) {
      files().symlink(rpc::arg<file_info>(msg));
      reply(msg.id, empty{});
    } else if (m == method::set_times) {
      files().set_times(rpc::arg<file_info>(msg));
      reply(msg.id, empty{});
    } else if (m == method::configure_network) {
      configure(rpc::arg<network_config>(msg));
      reply(msg.id, empty{});
    } else if (m == method::auth) {
      throw rpc::call_error(errc::conflict,
                            "this connection is authenticated; auth is only its first message "
                            "(or, on a port, a new host's handshake)");
    } else if (m == method::shutdown) {
      reply(msg.id, empty{});
      shutdown_requested_ = true;
    } else
      throw rpc::call_error(errc::no_such_method, "no method \"" + m + "\"");
  }

  version_info version(const version_request& req) {
    if (req.host_time_ns > 0 && opts_.init) {
      timespec ts{static_cast<time_t>(req.host_time_ns / 1000000000),
                  static_cast<long>(req.host_time_ns % 1000000000)};
      if (::clock_settime(CLOCK_REALTIME, &ts) != 0) log("clock_settime: %s", std::strerror(errno));
    }
    version_info info;
    info.agent = std::string(agent_version());
    info.protocol = protocol_version;
    utsname u{};
    if (::uname(&u) == 0) info.kernel = u.release;
    info.transport = transport_->name();
    timespec up{};
    ::clock_gettime(CLOCK_BOOTTIME, &up);
    info.uptime_ms = static_cast<uint64_t>(up.tv_sec) * 1000 + up.tv_nsec / 1000000;
    return info;
  }

  // The VM's network: the "net" modules on the first call (not in host mode), then the
  // interfaces. Blocks the loop while the interfaces appear (at most interface_wait_ms).
  void configure(const network_config& config) {
    network_setup setup;
    setup.sys_class_net = opts_.sys_class_net;
    setup.wait = milliseconds(opts_.interface_wait_ms);
    setup.load_modules = opts_.init;
    configure_network(config, setup);
  }

  void mount_root(uint32_t id, const mount_spec& spec) {
    if (!opts_.root.empty())
      throw rpc::call_error(errc::conflict, "the container root is given (" + opts_.root +
                                                "); there is nothing to mount");
    stack_.mount(spec);
    files_.reset();
    reply(id, empty{});
  }

  // The container's files, for the file methods; the root directory is opened on first use.
  root_files& files() {
    if (!files_) {
      std::string dir = root();
      if (dir.empty())
        throw rpc::call_error(errc::conflict,
                              "no container root is mounted; call mount_root first");
      files_.emplace(dir);
    }
    return *files_;
  }

  void list(uint32_t id, const path_request& req) {
    auto frame = rpc::encode_result(id, files().list(req.path));
    if (frame.size() > max_answer)
      throw rpc::call_error(errc::invalid_argument, "the listing of " + req.path + " takes " +
                                                        std::to_string(frame.size()) +
                                                        " bytes, more than one answer may");
    out_.response(std::move(frame));
  }

  std::string root() const {
    if (!opts_.root.empty()) return opts_.root;
    return stack_.mounted() ? stack_.rootfs() : std::string();
  }

  process_started start(const process_spec& spec) {
    if (spec.id.empty()) throw rpc::call_error(errc::invalid_argument, "process id is empty");
    if (procs_.count(spec.id))
      throw rpc::call_error(errc::already_exists, "process \"" + spec.id + "\" already exists");
    if (spec.args.empty() || spec.args[0].empty())
      throw rpc::call_error(errc::invalid_argument, "args is empty");
    std::string dir = root();
    if (dir.empty())
      throw rpc::call_error(errc::conflict, "no container root is mounted; call mount_root first");
    std::string cwd = spec.cwd.empty() ? "/" : spec.cwd;
    if (cwd[0] != '/')
      throw rpc::call_error(errc::invalid_argument, "cwd " + cwd + " is not an absolute path");

    spawn_request req;
    req.root = dir;
    req.cwd = cwd;
    req.who = resolve_user_in(dir, spec.user);
    req.args = spec.args;
    req.env = spec.env;
    if (!find_env(req.env, "HOME")) req.env.push_back("HOME=" + req.who.home);
    if (!spec.hostname.empty() && ::sethostname(spec.hostname.data(), spec.hostname.size()) != 0)
      throw rpc::call_error(errc::invalid_argument,
                            "sethostname " + spec.hostname + ": " + std::strerror(errno));

    req.terminal = spec.terminal;
    req.rows = spec.rows;
    req.cols = spec.cols;
    req.open_stdin = spec.open_stdin;
    os::unique_fd join_pid, join_mnt;
    if (spec.join.empty()) {
      req.new_namespace = true;
      req.init = spec.init;
    } else {
      auto i = procs_.find(spec.join);
      if (i == procs_.end() || i->second->exited)
        throw rpc::call_error(errc::not_found, "no running process \"" + spec.join + "\" to join");
      std::string ns = "/proc/" + std::to_string(i->second->pid) + "/ns/";
      join_pid.reset(::open((ns + "pid").c_str(), O_RDONLY | O_CLOEXEC));
      join_mnt.reset(::open((ns + "mnt").c_str(), O_RDONLY | O_CLOEXEC));
      if (!join_pid || !join_mnt)
        throw rpc::call_error(errc::not_found, "process \"" + spec.join + "\" has exited (" +
                                                   std::strerror(errno) + ")");
      req.join_pid_ns = join_pid.get();
      req.join_mnt_ns = join_mnt.get();
    }

    auto sp = spawn(req);
    auto p = std::make_unique<process>();
    p->id = spec.id;
    p->pid = sp.pid;
    p->fds[0] = sp.out_fd;
    p->fds[1] = sp.err_fd;
    p->in_fd = sp.in_fd;
    p->tty_fd = sp.tty_fd;
    p->terminal = spec.terminal;
    p->joined = !spec.join.empty();
    if (spec.open_stdin && p->input_fd() >= 0) p->input = stdin_state::open;
    by_pid_[sp.pid] = p.get();
    out_.start_output(spec.id, spec.output_seq);
    procs_[spec.id] = std::move(p);
    log("started process %s (pid %d%s%s%s): %s", spec.id.c_str(), sp.pid,
        spec.join.empty() ? (spec.init ? ", with init" : "") : ", joining ", spec.join.c_str(),
        spec.terminal ? ", on a terminal" : "", spec.args[0].c_str());
    return {sp.pid};
  }

  process& find(const std::string& id) {
    auto i = procs_.find(id);
    if (i == procs_.end()) throw rpc::call_error(errc::not_found, "no process \"" + id + "\"");
    return *i->second;
  }

  void wait(uint32_t id, const process_ref& ref) {
    auto& p = find(ref.id);
    if (p.exited)
      reply(id, p.status);
    else
      p.waiters.push_back(id);
  }

  void signal(uint32_t id, const signal_request& req) {
    auto& p = find(req.id);
    if (req.signal < 1 || req.signal >= NSIG)
      throw rpc::call_error(errc::invalid_argument, "invalid signal " + std::to_string(req.signal));
    if (!p.exited && ::kill(p.pid, req.signal) != 0 && errno != ESRCH)
      throw rpc::call_error(errc::internal,
                            "kill " + std::to_string(p.pid) + ": " + std::strerror(errno));
    reply(id, empty{});
  }

  void stdin_data(uint32_t id, stdin_chunk chunk) {
    auto& p = find(chunk.id);
    if (chunk.data.size() > max_stdin_chunk)
      throw rpc::call_error(errc::invalid_argument,
                            "stdin chunk of " + std::to_string(chunk.data.size()) +
                                " bytes; at most " + std::to_string(max_stdin_chunk));
    check_input(p);
    if (p.pending_bytes + chunk.data.size() > max_stdin_queued)
      throw rpc::call_error(errc::conflict, "process \"" + p.id + "\" has " +
                                                std::to_string(p.pending_bytes) +
                                                " bytes of stdin waiting; wait for the answers");
    p.pending_bytes += chunk.data.size();
    p.pending.push_back({std::move(chunk.data), 0, false, id});
    write_input(p);
  }

  void close_stdin(uint32_t id, const process_ref& ref) {
    auto& p = find(ref.id);
    if (p.input == stdin_state::closed) {
      reply(id, empty{});  // closed before (the process may have exited since): nothing to do
      return;
    }
    check_input(p);
    p.input = stdin_state::closed;
    stdin_op op;
    if (p.terminal) op.data.push_back(eof_char(p.tty_fd));
    op.close = true;
    op.reply = id;
    p.pending_bytes += op.data.size();
    p.pending.push_back(std::move(op));
    write_input(p);
  }

  // Throws unless process `p` takes stdin now.
  void check_input(const process& p) {
    if (p.exited) throw rpc::call_error(errc::conflict, "process \"" + p.id + "\" exited");
    if (p.input == stdin_state::none)
      throw rpc::call_error(errc::conflict, "stdin of process \"" + p.id +
                                                "\" is not open (start it with open_stdin)");
    if (p.input == stdin_state::closed)
      throw rpc::call_error(errc::conflict, "stdin of process \"" + p.id + "\" is closed");
  }

  empty resize(const resize_request& req) {
    auto& p = find(req.id);
    if (!p.terminal)
      throw rpc::call_error(errc::conflict, "process \"" + p.id + "\" has no terminal");
    if (p.exited || p.tty_fd < 0)
      throw rpc::call_error(errc::conflict, "process \"" + p.id + "\" exited");
    if (int err = set_window_size(p.tty_fd, req.rows, req.cols); err != 0)
      throw rpc::call_error(errc::io,
                            "resize the terminal of \"" + p.id + "\": " + std::strerror(err));
    return {};
  }

  // --- processes ------------------------------------------------------------------------------

  // Whether the output of `p` is read now: always without a host (the outbox bounds it), else
  // until 1 MiB waits for the host, and again once under 256 KiB.
  bool reading(process& p) {
    if (conn_ < 0) {
      p.paused = false;
      return true;
    }
    auto queued = out_.queued_output(p.id);
    if (!p.paused && queued >= output_pause)
      p.paused = true;
    else if (p.paused && queued < output_resume)
      p.paused = false;
    return !p.paused;
  }

  // Writes pending stdin as far as the pipe or pty takes it, answering each call once its bytes
  // are written; a pipe or pty that refuses (EPIPE, EIO) fails the rest with conflict.
  void write_input(process& p) {
    while (!p.pending.empty()) {
      auto& op = p.pending.front();
      int fd = p.input_fd();
      while (op.written < op.data.size()) {
        ssize_t n =
            fd < 0 ? -1 : ::write(fd, op.data.data() + op.written, op.data.size() - op.written);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0) {
          int err = fd < 0 ? EBADF : errno;
          // Usually the process has just exited (its SIGCHLD not read yet); say so then.
          siginfo_t info{};
          bool gone =
              ::waitid(P_PID, static_cast<id_t>(p.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
              info.si_pid == p.pid;
          fail_input(
              p, gone ? "process \"" + p.id + "\" exited"
                      : "stdin of process \"" + p.id + "\" is closed (" + std::strerror(err) + ")");
          return;
        }
        op.written += static_cast<std::size_t>(n);
        p.pending_bytes -= static_cast<std::size_t>(n);
      }
      if (op.close && !p.terminal) close_fd(p.in_fd);
      if (op.reply) reply(*op.reply, empty{});
      p.pending.pop_front();
    }
  }

  // Answers every pending stdin call with conflict `why`; stdin takes nothing more.
  void fail_input(process& p, const std::string& why) {
    for (auto& op : p.pending)
      if (op.reply) out_.response(rpc::encode_error(*op.reply, errc::conflict, why));
    p.pending.clear();
    p.pending_bytes = 0;
    if (p.input == stdin_state::open) p.input = stdin_state::closed;
    close_fd(p.in_fd);
  }

  void queue_output(process& p, int index, const char* data, std::size_t size) {
    bool bounded = conn_ < 0;
    auto dropped = out_.output(p.id, static_cast<uint8_t>(index + 1), {data, size}, bounded);
    auto queued = out_.queued_output(p.id);
    if (queued > high_water_.load(std::memory_order_relaxed))
      high_water_.store(queued, std::memory_order_relaxed);
    if (dropped == 0) return;
    if (p.dropped == 0)
      log("no host connected: dropping output of process %s beyond %zu queued bytes", p.id.c_str(),
          outbox::default_max_output);
    p.dropped += dropped;
  }

  void close_pipes(process& p) {
    for (int& fd : p.fds) {
      if (fd >= 0) ::close(fd);
      fd = -1;
    }
  }

  // Reads one chunk of up to chunk_size bytes; closes the pipe at end of file (a pty master: EIO
  // once the last descriptor of its slave is closed). A pty hands out at most a few KiB per read,
  // so reads go on until the chunk is full or nothing more is there: fewer, larger notifications.
  void read_pipe(process& p, int index) {
    std::size_t got = 0;
    bool closed = false;
    while (got < buf_.size()) {
      ssize_t n = ::read(p.fds[index], buf_.data() + got, buf_.size() - got);
      if (n > 0) {
        got += static_cast<std::size_t>(n);
        if (!p.terminal) break;  // a pipe gives what it has in one read
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      closed = n == 0 || errno != EAGAIN;
      break;
    }
    if (got > 0) queue_output(p, index, buf_.data(), got);
    if (closed) {
      ::close(p.fds[index]);
      p.fds[index] = -1;
    }
  }

  // Reads what is left in a pipe of an exited process, without waiting for more.
  void drain(process& p, int index) {
    std::size_t total = 0;
    while (p.fds[index] >= 0 && total < drain_limit) {
      ssize_t n = ::read(p.fds[index], buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      queue_output(p, index, buf_.data(), static_cast<std::size_t>(n));
      total += static_cast<std::size_t>(n);
    }
  }

  void exited(process& p, int wstatus) {
    drain(p, 0);
    drain(p, 1);
    close_pipes(p);
    fail_input(p, "process \"" + p.id + "\" exited");
    close_fd(p.tty_fd);
    p.exited = true;
    p.status = status_of(p.id, wstatus);
    by_pid_.erase(p.pid);
    if (p.joined) exited_execs_.push_back(p.id);
    out_.notification(rpc::encode_notification(notice::exit, p.status));
    for (auto w : p.waiters) reply(w, p.status);
    p.waiters.clear();
    if (p.status.signal)
      log("process %s (pid %d) was killed by signal %d", p.id.c_str(), p.pid, p.status.signal);
    else
      log("process %s (pid %d) exited with %d", p.id.c_str(), p.pid, p.status.exit_code);
  }

  // Drops the oldest exited execs beyond max_exited_execs. Called where no pointer into the table
  // is held (the top of an iteration of the loop).
  void forget_old_execs() {
    while (exited_execs_.size() > max_exited_execs) {
      out_.forget(exited_execs_.front());
      procs_.erase(exited_execs_.front());
      exited_execs_.pop_front();
    }
  }

  // Reaps what exited; returns false when the agent has no children left at all.
  bool reap() {
    signalfd_siginfo info[16];
    while (::read(signal_fd_, info, sizeof info) > 0) {
    }
    if (opts_.init) {
      // PID 1 inherits every orphan in the VM; reap them all and ignore those it did not start.
      for (;;) {
        int wstatus = 0;
        pid_t pid = ::waitpid(-1, &wstatus, WNOHANG);
        if (pid < 0) return errno != ECHILD;
        if (pid == 0) return true;
        if (auto i = by_pid_.find(pid); i != by_pid_.end()) exited(*i->second, wstatus);
      }
    }
    bool left = false;
    for (auto& [id, p] : procs_) {
      if (p->exited) continue;
      int wstatus = 0;
      if (::waitpid(p->pid, &wstatus, WNOHANG) == p->pid)
        exited(*p, wstatus);
      else
        left = true;
    }
    return left;
  }

  // Signals what runs: every process of the VM as init, else the server's own process groups.
  void signal_all(int sig) {
    if (opts_.init) {
      ::kill(-1, sig);
      return;
    }
    for (auto& [id, p] : procs_) {
      if (p->exited) continue;
      ::kill(-p->pid, sig);
      ::kill(p->pid, sig);
    }
  }

  // Reaps until no child is left or `deadline` passes; true if none is left.
  bool reap_until(clock_type::time_point deadline) {
    for (;;) {
      if (!reap()) return true;
      if (clock_type::now() >= deadline) return false;
      pollfd p{signal_fd_, POLLIN, 0};
      ::poll(&p, 1, remaining_ms(deadline));
    }
  }

  void shut_down() {
    flush_until(clock_type::now() + milliseconds(2000));
    log("shutting down");
    signal_all(SIGTERM);
    if (!reap_until(clock_type::now() + milliseconds(1000))) {
      log("processes still running after SIGTERM; sending SIGKILL");
      signal_all(SIGKILL);
      reap_until(clock_type::now() + milliseconds(1000));
    }
    // Best effort: the host may still be reading the last output and exit notifications.
    flush_until(clock_type::now() + milliseconds(200));
    files_.reset();
    if (opts_.init) {
      ::sync();
      stack_.unmount();
      ::sync();
    }
  }

  std::unique_ptr<transport> transport_;
  server_options opts_;
  root_stack stack_;
  std::optional<gate> gate_;  // reset before transport_ goes
  int signal_fd_ = -1;
  int stop_fd_ = -1;
  int conn_ = -1;
  bool conn_is_socket_ = false;
  std::optional<rpc::decoder> decoder_{std::in_place};
  outbox out_;
  std::optional<root_files> files_;
  std::atomic<std::size_t> high_water_{0};
  std::map<std::string, std::unique_ptr<process>> procs_;
  std::unordered_map<pid_t, process*> by_pid_;
  std::deque<std::string> exited_execs_;  // ids of exited execs still kept, oldest first
  clock_type::time_point next_probe_{};
  std::vector<char> buf_;
  bool shutdown_requested_ = false;
  bool finished_ = false;
  run_result result_ = run_result::stopped;
};

server::server(std::unique_ptr<transport> t, server_options opts)
    : impl_(std::make_unique<impl>(std::move(t), std::move(opts))) {}

server::~server() = default;

run_result server::run() {
  while (impl_->run_once(-1)) {
  }
  return impl_->result_;
}

bool server::run_once(int timeout_ms) {
  return impl_->run_once(timeout_ms);
}

void server::stop() {
  impl_->stop();
}

std::size_t server::output_high_water() const {
  return impl_->high_water_.load(std::memory_order_relaxed);
}

}  // namespace berth::agent
