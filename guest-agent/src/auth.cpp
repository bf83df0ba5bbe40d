// auth.cpp: the gate every host connection passes before the server serves it.
#include "auth.hpp"

#include "log.hpp"

#include "berth/agent/handshake.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace berth::agent {

namespace {

// Writes all of `bytes` to the non-blocking `fd`, waiting at most a second for room; false when
// the peer is gone or does not take them.
bool write_all(int fd, std::string_view bytes) {
  auto deadline = gate::clock_type::now() + std::chrono::seconds(1);
  while (!bytes.empty()) {
    ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == ENOTSOCK) n = ::write(fd, bytes.data(), bytes.size());
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - gate::clock_type::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLOUT, 0};
    ::poll(&p, 1, static_cast<int>(left.count()) + 1);
  }
  return true;
}

}  // namespace

gate::gate(std::string key, transport& t, std::chrono::milliseconds timeout)
    : key_(std::move(key)), transport_(t), timeout_(timeout) {}

gate::~gate() {
  for (auto& w : pending_) transport_.disconnect(w.fd);
}

void gate::admit(int fd) {
  if (pending_.size() >= max_pending) {
    note_refusal("pushed out by newer connections that had not authenticated either");
    transport_.disconnect(pending_.front().fd);
    pending_.erase(pending_.begin());
  }
  pending_.push_back({fd, {}, clock_type::now() + timeout_, false});
}

void gate::add_poll_fds(std::vector<pollfd>& fds) const {
  for (const auto& w : pending_) fds.push_back({w.fd, POLLIN, 0});
}

int gate::service(const pollfd* fds, std::size_t count) {
  int passed = -1;
  auto now = clock_type::now();
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    auto& w = pending_[i];
    short revents = i < count && fds[i].fd == w.fd ? fds[i].revents : 0;
    if (w.refused) {
      if (revents && !drain(w)) {
        transport_.disconnect(w.fd);
        w.fd = -1;
      }
      continue;
    }
    auto result = revents ? read_request(w) : outcome::more;
    if (result == outcome::accepted) {
      // Two hosts proving the key in one round: the later one is the session.
      if (passed >= 0) transport_.disconnect(passed);
      passed = w.fd;
      w.fd = -1;
    } else if (result == outcome::gone) {
      transport_.disconnect(w.fd);
      w.fd = -1;
    } else if (result == outcome::more && now >= w.deadline) {
      refuse(w, "no auth request within the handshake timeout");
    }
  }
  pending_.erase(
      std::remove_if(pending_.begin(), pending_.end(), [](const waiting& w) { return w.fd < 0; }),
      pending_.end());
  return passed;
}

int gate::timeout_ms() const {
  int best = -1;
  auto now = clock_type::now();
  for (const auto& w : pending_) {
    if (w.refused) continue;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(w.deadline - now).count();
    int ms = left < 0 ? 0 : static_cast<int>(left) + 1;
    if (best < 0 || ms < best) best = ms;
  }
  return best;
}

gate::outcome gate::read_request(waiting& w) {
  char buf[auth_request_size];
  // Never more than the request: what follows it belongs to the session.
  ssize_t n = ::read(w.fd, buf, auth_request_size - w.got.size());
  if (n < 0)
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? outcome::more
                                                                     : outcome::gone;
  if (n == 0) return outcome::gone;
  w.got.append(buf, static_cast<std::size_t>(n));
  // The prefix is no secret: a connection that starts with anything else is refused at once.
  auto checked = std::min(w.got.size(), auth_prefix.size());
  if (std::string_view(w.got).substr(0, checked) != auth_prefix.substr(0, checked)) {
    refuse(w, "its first message is not the auth request");
    return outcome::refused;
  }
  if (w.got.size() < auth_request_size) return outcome::more;
  bool right = equal_constant_time(std::string_view(w.got).substr(auth_prefix.size()), key_);
  if (!right) {
    refuse(w, "wrong agent key");
    return outcome::refused;
  }
  if (!write_all(w.fd, auth_accepted)) return outcome::gone;
  log("a host connection (%s) proved the agent key", transport_.name().c_str());
  return outcome::accepted;
}

bool gate::drain(waiting& w) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(w.fd, buf, sizeof buf);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }
}

void gate::refuse(waiting& w, const char* why) {
  note_refusal(why);
  // Best effort, one try: a host that does not read learns it from the hangup.
  if (::send(w.fd, auth_refused.data(), auth_refused.size(), MSG_NOSIGNAL) < 0 && errno == ENOTSOCK)
      [[maybe_unused]]
    auto n = ::write(w.fd, auth_refused.data(), auth_refused.size());
  w.got.clear();
  if (transport_.listen_fd() >= 0) {
    transport_.disconnect(w.fd);
    w.fd = -1;
  } else {
    w.refused = true;  // a port: ignored until its host hangs up
  }
}

void gate::note_refusal(const char* why) {
  // One line a second at most: a local user opening connections in a loop must not fill the
  // console log.
  auto now = clock_type::now();
  if (now - last_log_ < std::chrono::seconds(1)) {
    ++quiet_refusals_;
    return;
  }
  if (quiet_refusals_ > 0)
    log("refused a host connection (%s): %s (and %u more refusals not logged)",
        transport_.name().c_str(), why, quiet_refusals_);
  else
    log("refused a host connection (%s): %s", transport_.name().c_str(), why);
  last_log_ = now;
  quiet_refusals_ = 0;
}

}  // namespace berth::agent
