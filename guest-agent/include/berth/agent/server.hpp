// server: berth-init's msgpack-RPC server, the guest side of protocol.hpp.
//
// One single-threaded poll() loop owns everything the agent does after boot: the connection to
// berthd (through a transport that may drop and come back), the processes it started, their
// output pipes, SIGCHLD (through a signalfd) and the queue of messages not yet written. Nothing in
// the loop waits for one client action; a host that disconnects leaves every process running and
// finds its notifications queued when it comes back. docs/guest-agent.md is the wire reference.
//
// The same server runs on a development host ("host mode"): give it a transport over any stream
// descriptor and a directory to use as the container root, and it starts processes chrooted there
// without mounting anything; that is how the tests drive it.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace berth::agent {

/// berth-init's version string, as `version` reports it ("berth-init 0.1.0").
std::string_view agent_version();

/// Sends the agent's log lines ("berth-init: ...") to `fd`; -1 silences them. Default: stderr.
void set_log_fd(int fd);

/// How the agent reaches berthd: a byte stream that can drop and come back.
///
/// Two implementations: a port (one descriptor that is always open, like a virtio-serial port,
/// whose host side comes and goes) and a listener (a listening socket, like AF_VSOCK, where every
/// host connection is a new descriptor).
class transport {
 public:
  virtual ~transport() = default;

  /// Name that `version` reports: "virtio-serial" or "vsock".
  virtual const std::string& name() const = 0;

  /// A descriptor that becomes readable when a host connects, or -1 when the server must probe.
  virtual int listen_fd() const = 0;

  /// A descriptor connected to a host, or -1 if none is there yet. Never blocks.
  virtual int connect() = 0;

  /// The host behind `fd`, a descriptor connect() returned, went away.
  virtual void disconnect(int fd) = 0;
};

/// A port transport over `fd` (owned; made non-blocking): a host is there while poll() does not
/// report POLLHUP. Fits a virtio-serial port, and in tests one end of a socketpair.
std::unique_ptr<transport> make_port_transport(int fd, std::string name = "virtio-serial");

/// A listener transport over the listening socket `fd` (owned): each accepted connection is a
/// host; a newer connection replaces an older one once it has proved the key (server_options).
/// Fits AF_VSOCK, and in tests AF_UNIX.
std::unique_ptr<transport> make_listener_transport(int fd, std::string name = "vsock");

/// How a server runs.
struct server_options {
  /// The container's root directory. Empty in the VM, where mount_root makes it; in host mode the
  /// directory to chroot processes into (mount_root then answers conflict).
  std::string root;

  /// The agent key (agent_key_size bytes) every host connection must send first, in the auth
  /// request of berth/agent/handshake.hpp, before anything else is read from it or written to it.
  /// A connection that does not is refused and the current session goes on. Empty: connections
  /// are served at once (host mode for tests); berth-init as PID 1 never runs without one.
  std::string key;

  /// How long a new connection may take to send its auth request before it is refused.
  std::chrono::milliseconds handshake_timeout{10000};

  /// Where mount_root mounts the image, the disk and the root ("/run/berth").
  std::string run_dir = "/run/berth";

  /// Run as the VM's init: reap every child, set the clock from `version`, and at `shutdown`
  /// signal every process in the VM and unmount the container root. Off in host mode, where only
  /// the server's own processes are signalled and reaped.
  bool init = false;

  /// Return from run() when the host disconnects instead of waiting for it to come back (host
  /// mode over a socket whose peer cannot reconnect).
  bool stop_on_disconnect = false;

  /// Where `configure_network` looks for interfaces by MAC, and how long it waits for one to
  /// appear. It configures the network namespace of the server's thread; in host mode it loads
  /// no kernel modules.
  std::string sys_class_net = "/sys/class/net";
  unsigned interface_wait_ms = 5000;
};

/// Why run() returned.
enum class run_result {
  stopped,   ///< stop() was called.
  shutdown,  ///< The host called `shutdown`: it was answered and every process is gone.
};

/// The agent's RPC server.
///
/// Single-threaded: run(), run_once() and the destructor belong to one thread; only stop() and
/// output_high_water() may be called from another. SIGCHLD must be blocked in every thread of the
/// process, because the server reads it from a signalfd: the constructor blocks it (and SIGPIPE,
/// so that a closed stdin pipe is an EPIPE) in the calling thread, so construct the server before
/// starting other threads or block SIGCHLD in them yourself. In host mode a `hostname` in a
/// process_spec changes the hostname of the calling thread's UTS namespace; tests run the server
/// in a thread that called unshare(CLONE_NEWUTS). Every process gets its own PID and mount
/// namespaces (or joins another's), so the server needs CAP_SYS_ADMIN, in host mode too.
class server {
 public:
  /// Makes a server that talks to the host through `t`.
  server(std::unique_ptr<transport> t, server_options opts);

  /// Kills (SIGKILL) and reaps the processes the server started that still run.
  ~server();

  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Serves until stop() or `shutdown`.
  run_result run();

  /// Runs one iteration of the loop, waiting at most `timeout_ms` (-1: no bound) for an event;
  /// false once the server has finished (stopped or shut down).
  bool run_once(int timeout_ms);

  /// Makes run() return soon; safe to call from any thread.
  void stop();

  /// The most output bytes of one process that waited for the host at once since the server
  /// started: with a host connected, back-pressure keeps it near 1 MiB. Safe from any thread.
  std::size_t output_high_water() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace berth::agent
