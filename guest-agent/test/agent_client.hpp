// agent_client: a small blocking msgpack-RPC client of berth-init, for tests and smoke checks.
//
// It plays berthd's part on one stream descriptor: sends requests, reads until the answer it
// wants, and records every message that arrives (output and exit notifications, responses) in
// arrival order, so a test can check the order the agent promises. Every wait has a deadline: a
// broken agent fails a test, it never hangs it.
#pragma once

#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace berth::agent::testing {

/// One message received from the agent, in a form tests can compare.
struct event {
  enum kind_type { output, exit, response } kind = response;
  std::string id;       ///< Process id (output, exit).
  uint8_t fd = 0;       ///< output: 1 or 2.
  std::string data;     ///< output: the bytes.
  exit_status status;   ///< exit.
  uint32_t msg_id = 0;  ///< response: the request id.
};

/// A blocking client of the agent over a connected stream descriptor.
class agent_client {
 public:
  using clock = std::chrono::steady_clock;

  /// Takes ownership of `fd`.
  explicit agent_client(int fd = -1) : fd_(fd) {}
  ~agent_client() { close(); }
  agent_client(const agent_client&) = delete;
  agent_client& operator=(const agent_client&) = delete;

  /// The descriptor, or -1.
  int fd() const { return fd_; }

  /// Closes the connection (the agent sees the host go away).
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  /// Uses a new connection; nothing of the old one carries over but the recorded events.
  void reconnect(int fd) {
    close();
    fd_ = fd;
    dec_.emplace();  // not dec_->reset(): see reset_decoder() in src/server.cpp
  }

  /// Writes raw bytes.
  void send_raw(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno == ENOTSOCK) n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) throw std::runtime_error(std::string("send: ") + std::strerror(errno));
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  /// Sends a request with one argument map; returns its id.
  template <class T>
  uint32_t send(std::string_view method, const T& arg) {
    uint32_t id = next_id_++;
    send_raw(rpc::encode_request(id, method, arg));
    return id;
  }

  /// Sends a request without arguments; returns its id.
  uint32_t send(std::string_view method) {
    uint32_t id = next_id_++;
    send_raw(rpc::encode_request(id, method));
    return id;
  }

  /// Reads until the response to `id` has arrived and returns it.
  rpc::message response(uint32_t id, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = clock::now() + timeout;
    while (!responses_.count(id)) read_some(deadline);
    auto msg = std::move(responses_.at(id));
    responses_.erase(id);
    return msg;
  }

  /// Calls `method` with `arg` and returns the response.
  template <class T>
  rpc::message call(std::string_view method, const T& arg) {
    return response(send(method, arg));
  }

  /// Calls `method` without arguments and returns the response.
  rpc::message call(std::string_view method) { return response(send(method)); }

  /// Reads what one read() brings (at most 64 KiB), waiting up to `timeout` for it.
  void read_once(std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    read_some(clock::now() + timeout);
  }

  /// Whether the response to `id` has arrived (and was not taken by response()).
  bool has_response(uint32_t id) const { return responses_.count(id) != 0; }

  /// Reads until the exit notification of process `id` has arrived; returns it.
  exit_status until_exit(const std::string& id,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = clock::now() + timeout;
    for (;;) {
      if (auto s = exit_of(id)) return *s;
      read_some(deadline);
    }
  }

  /// Reads until `pred(events)` holds.
  template <class Pred>
  void until(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = clock::now() + timeout;
    while (!pred(events)) read_some(deadline);
  }

  /// The exit notification of `id`, if it has arrived.
  std::optional<exit_status> exit_of(const std::string& id) const {
    for (const auto& e : events)
      if (e.kind == event::exit && e.id == id) return e.status;
    return std::nullopt;
  }

  /// Everything process `id` wrote to `fd` so far.
  std::string output(const std::string& id, uint8_t fd = 1) const {
    std::string out;
    for (const auto& e : events)
      if (e.kind == event::output && e.id == id && e.fd == fd) out += e.data;
    return out;
  }

  /// Every message received, in arrival order.
  std::vector<event> events;

 private:
  void read_some(clock::time_point deadline) {
    if (fd_ < 0) throw std::runtime_error("not connected");
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
    if (left.count() <= 0) throw std::runtime_error("timed out waiting for the agent");
    pollfd p{fd_, POLLIN, 0};
    int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) return;
    if (n <= 0) throw std::runtime_error("timed out waiting for the agent");
    char buf[65536];
    ssize_t got = ::read(fd_, buf, sizeof buf);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (got <= 0) throw std::runtime_error("the agent closed the connection");
    dec_->feed(buf, static_cast<std::size_t>(got));
    rpc::message msg;
    while (dec_->next(msg)) record(std::move(msg));
  }

  void record(rpc::message msg) {
    event e;
    if (msg.type == rpc::kind::response) {
      e.kind = event::response;
      e.msg_id = msg.id;
      events.push_back(e);
      responses_.emplace(msg.id, std::move(msg));
    } else if (msg.type == rpc::kind::notification && msg.method == notice::output) {
      auto chunk = rpc::arg<output_chunk>(msg);
      e.kind = event::output;
      e.id = chunk.id;
      e.fd = chunk.fd;
      e.data.assign(chunk.data.begin(), chunk.data.end());
      events.push_back(std::move(e));
    } else if (msg.type == rpc::kind::notification && msg.method == notice::exit) {
      e.kind = event::exit;
      e.status = rpc::arg<exit_status>(msg);
      e.id = e.status.id;
      events.push_back(std::move(e));
    }
  }

  int fd_;
  uint32_t next_id_ = 1;
  std::optional<rpc::decoder> dec_{std::in_place};
  std::map<uint32_t, rpc::message> responses_;
};

}  // namespace berth::agent::testing
