// auth: the agent's door. A new host connection waits here until it has sent the auth request
// with this VM's key (berth/agent/handshake.hpp); only then does the server read requests from it
// or write it anything queued.
//
// Nothing a waiting connection sends is parsed as msgpack: the gate reads at most the 48 bytes of
// the auth request (never more, so what the host sends after the handshake stays in the socket
// for the session), compares the 16-byte prefix as it arrives and the key, once complete, in
// constant time.
#pragma once

#include "berth/agent/server.hpp"

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

namespace berth::agent {

/// Host connections that have not proved the agent key yet.
///
/// A connection is admitted, read until its auth request is complete, then passed (returned once
/// by service(), after `auth_accepted` was written to it) or refused: `auth_refused` is written
/// and the transport is told the host went away, which closes a listener's connection. A port
/// cannot be closed, so a refused port stays here, everything it sends read and dropped, until its
/// host hangs up. A connection that has not completed its request within the timeout is refused. At
/// most max_pending connections wait at once; a newer one pushes the oldest out (a host that
/// connects sends its key at once, so a crowd of silent connections cannot lock it out).
class gate {
 public:
  using clock_type = std::chrono::steady_clock;

  /// Connections that may wait at once.
  static constexpr std::size_t max_pending = 8;

  /// A gate for `key` (agent_key_size bytes) in front of transport `t`, which outlives it; a
  /// connection has `timeout` to send its auth request.
  gate(std::string key, transport& t, std::chrono::milliseconds timeout);

  /// Tells the transport that every waiting connection went away.
  ~gate();

  gate(const gate&) = delete;
  gate& operator=(const gate&) = delete;

  /// Takes a new connection: a descriptor transport::connect() returned.
  void admit(int fd);

  /// Whether no connection waits.
  bool empty() const { return pending_.empty(); }

  /// Appends one pollfd (POLLIN) per waiting connection, in order.
  void add_poll_fds(std::vector<pollfd>& fds) const;

  /// Handles `count` poll results, those of the entries add_poll_fds appended, and the deadlines
  /// that passed. Returns the descriptor of a connection that proved the key and was answered
  /// `auth_accepted` (the caller serves it from now on), or -1.
  int service(const pollfd* fds, std::size_t count);

  /// Milliseconds until the nearest deadline, or -1 when nothing waits for one.
  int timeout_ms() const;

 private:
  struct waiting {
    int fd = -1;
    std::string got;  // bytes of the auth request so far
    clock_type::time_point deadline;
    bool refused = false;  // a refused port: input dropped until its host hangs up
  };

  enum class outcome { more, accepted, refused, gone };

  outcome read_request(waiting& w);
  bool drain(waiting& w);
  void refuse(waiting& w, const char* why);
  void note_refusal(const char* why);

  std::string key_;
  transport& transport_;
  std::chrono::milliseconds timeout_;
  std::vector<waiting> pending_;
  clock_type::time_point last_log_{};
  unsigned quiet_refusals_ = 0;
};

}  // namespace berth::agent
