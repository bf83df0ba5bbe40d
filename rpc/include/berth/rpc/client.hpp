// client: a blocking msgpack-RPC client for the berth CLI and other tools.
//
// One connection, requests answered in any order: responses to other calls are kept until they
// are waited for, and notifications (stream data) go to a handler while the client waits. Errors
// from the daemon arrive as call_error with the daemon's class and message; a lost connection is
// call_error(unavailable). CAF-free.
#pragma once

#include "berth/rpc/codec.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace berth::rpc {

/// A connection to berthd.
class client {
 public:
  /// Connects to `host`: "unix:///path/to.sock" or a plain absolute path. Throws call_error
  /// (unavailable) with a message saying where it tried.
  static client connect(const std::string& host);

  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  client(const client&) = delete;
  ~client();

  /// Sends a request with one argument map; returns its id.
  template <class T>
  uint32_t send(std::string_view method, const T& arg) {
    auto id = take_id();
    write(encode_request(id, method, arg));
    return id;
  }

  /// Sends a request without arguments; returns its id.
  uint32_t send(std::string_view method);

  /// Blocks until the response to `id` arrives, dispatching notifications meanwhile.
  message wait(uint32_t id);

  /// Whether the response to `id` has arrived (without blocking).
  bool has_response(uint32_t id) const { return responses_.count(id) != 0; }

  /// Sends a request and returns its result converted to R; throws call_error on failure.
  template <class R, class T>
  R call(std::string_view method, const T& arg) {
    return result_as<R>(wait(send(method, arg)));
  }

  /// Sends a request without arguments and returns its result.
  template <class R>
  R call(std::string_view method) {
    return result_as<R>(wait(send(method)));
  }

  /// Reads what has arrived, waiting at most `timeout` (nullopt: until something arrives);
  /// dispatches notifications and keeps responses. False when nothing arrived in time.
  bool poll_once(std::optional<std::chrono::milliseconds> timeout);

  /// Called for every notification, in arrival order.
  std::function<void(const message&)> on_notification;

  /// The socket, for callers that poll it together with other fds.
  int fd() const { return fd_; }

 private:
  explicit client(int fd) : fd_(fd) {}
  void write(const std::string& bytes);

  int fd_ = -1;
  uint32_t next_id_ = 1;
  /// The next request id: 1 to UINT32_MAX, never 0 (berthd's, for the error ending a connection).
  uint32_t take_id() {
    auto id = next_id_++;
    if (next_id_ == 0) next_id_ = 1;
    return id;
  }
  std::string closed_reason_;  ///< The error berthd closed the connection with (a response id 0).
  decoder decoder_;
  std::map<uint32_t, message> responses_;
};

/// The unix socket path of `host` ("unix:///x" or "/x"); throws call_error(invalid_argument)
/// for other schemes.
std::string socket_path(const std::string& host);

}  // namespace berth::rpc
