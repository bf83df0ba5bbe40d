// client.cpp: connection, blocking reads and response bookkeeping.
#include "berth/rpc/client.hpp"

#include "berth/os/socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth::rpc {

std::string socket_path(const std::string& host) {
  std::string_view h = host;
  if (h.substr(0, 7) == "unix://")
    h.remove_prefix(7);
  else if (h.find("://") != std::string_view::npos)
    throw call_error(errc::invalid_argument,
                     "unsupported host " + host + ": berth talks to berthd over unix:// sockets");
  if (h.empty() || h[0] != '/')
    throw call_error(errc::invalid_argument, "host " + host + " is not an absolute socket path");
  return std::string(h);
}

client client::connect(const std::string& host) {
  auto path = socket_path(host);
  try {
    return client(os::connect_unix(path).release());
  } catch (const std::system_error& e) {
    if (e.code().value() == ENAMETOOLONG)
      throw call_error(errc::invalid_argument, "socket path too long: " + path);
    throw call_error(errc::unavailable, "cannot connect to berthd at unix://" + path + ": " +
                                            std::strerror(e.code().value()) +
                                            ". Is berthd running?");
  }
}

client::client(client&& other) noexcept
    : on_notification(std::move(other.on_notification)),
      fd_(std::exchange(other.fd_, -1)),
      next_id_(other.next_id_),
      decoder_(std::move(other.decoder_)),
      responses_(std::move(other.responses_)) {}

client& client::operator=(client&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    next_id_ = other.next_id_;
    decoder_ = std::move(other.decoder_);
    responses_ = std::move(other.responses_);
    on_notification = std::move(other.on_notification);
  }
  return *this;
}

client::~client() {
  if (fd_ >= 0) ::close(fd_);
}

uint32_t client::send(std::string_view method) {
  auto id = take_id();
  write(encode_request(id, method));
  return id;
}

void client::write(const std::string& bytes) {
  std::string_view rest = bytes;
  while (!rest.empty()) {
    auto n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      // berthd may have said why before it closed (a refused peer, a connection over its cap):
      // that answer, if it is there, says more than EPIPE.
      try {
        while (poll_once(std::chrono::milliseconds(0))) {
        }
      } catch (const call_error& e) {
        if (e.code() != errc::unavailable || !closed_reason_.empty()) throw;
      }
      throw call_error(errc::unavailable,
                       std::string("lost the connection to berthd: ") + std::strerror(err));
    }
    rest.remove_prefix(static_cast<std::size_t>(n));
  }
}

bool client::poll_once(std::optional<std::chrono::milliseconds> timeout) {
  pollfd p{fd_, POLLIN, 0};
  int r;
  do r = ::poll(&p, 1, timeout ? static_cast<int>(timeout->count()) : -1);
  while (r < 0 && errno == EINTR);
  if (r == 0) return false;
  char buf[65536];
  ssize_t n;
  do n = ::read(fd_, buf, sizeof buf);
  while (n < 0 && errno == EINTR);
  if (n <= 0) throw call_error(errc::unavailable, "berthd closed the connection");
  try {
    decoder_.feed(buf, static_cast<std::size_t>(n));
    message m;
    while (decoder_.next(m)) {
      if (m.type == kind::response && m.id == 0) {
        // Id 0 is never a request's: berthd ends the connection with this error.
        auto err = error_of(m);
        closed_reason_ = err.message;
        throw call_error(err.code == errc::none ? errc::protocol : err.code, err.message);
      }
      if (m.type == kind::response) {
        auto id = m.id;
        responses_.emplace(id, std::move(m));
      } else if (m.type == kind::notification && on_notification) {
        on_notification(m);
      }
    }
  } catch (const protocol_error& e) {
    throw call_error(errc::protocol, std::string("berthd sent a malformed message: ") + e.what());
  }
  return true;
}

message client::wait(uint32_t id) {
  for (;;) {
    if (auto it = responses_.find(id); it != responses_.end()) {
      message m = std::move(it->second);
      responses_.erase(it);
      return m;
    }
    poll_once(std::nullopt);
  }
}

}  // namespace berth::rpc
