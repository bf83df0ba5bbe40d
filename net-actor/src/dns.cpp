// dns.cpp: DNS packets (header, question, A answers) and the responder's poll() loop.
#include "dns.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace berth::net::dns {

namespace {

constexpr std::size_t header_size = 12;

uint16_t get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] << 8 | p[1]);
}

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v & 0xff));
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v & 0xffff));
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Header of a response to `q`: QR, AA, RA, the query's opcode (0) and RD, and `code`.
std::vector<uint8_t> response_header(const query& q, rcode code, uint16_t qdcount,
                                     uint16_t ancount) {
  std::vector<uint8_t> out;
  out.reserve(512);
  put16(out, q.id);
  uint16_t flags = 0x8000 | 0x0400 | 0x0080 | (q.flags & 0x0100) | (q.flags & 0x7800) | code;
  put16(out, flags);
  put16(out, qdcount);
  put16(out, ancount);
  put16(out, 0);
  put16(out, 0);
  return out;
}

}  // namespace

std::string normalize(std::string_view name) {
  std::string out(name);
  if (!out.empty() && out.back() == '.') out.pop_back();
  for (auto& c : out) c = lower(c);
  return out;
}

query parse_query(const uint8_t* data, std::size_t size) {
  query q;
  if (!data || size < header_size) return q;  // drop
  q.id = get16(data);
  q.flags = get16(data + 2);
  if (q.flags & 0x8000) return q;  // a response: never answer one (no loops)
  auto opcode = (q.flags >> 11) & 0xf;
  if (opcode != 0) {
    q.state = query::status::notimp;
    return q;
  }
  q.state = query::status::formerr;
  if (get16(data + 4) != 1) return q;  // exactly one question
  std::size_t pos = header_size;
  std::size_t total = 0;
  std::string name;
  for (;;) {
    if (pos >= size) return q;
    uint8_t len = data[pos];
    if (len == 0) {
      ++pos;
      break;
    }
    if (len > 63) return q;  // a compression pointer or a reserved label type
    if (size - pos - 1 < len) return q;
    total += len + 1u;
    if (total > 254) return q;
    if (!name.empty()) name += '.';
    for (std::size_t i = 0; i < len; ++i) name += lower(static_cast<char>(data[pos + 1 + i]));
    pos += 1u + len;
  }
  if (size - pos < 4) return q;
  q.qtype = get16(data + pos);
  q.qclass = get16(data + pos + 2);
  q.question_end = pos + 4;
  q.name = std::move(name);
  q.state = query::status::ok;
  return q;
}

std::vector<uint8_t> make_answer(const uint8_t* packet, const query& q,
                                 const std::vector<ipv4>& addresses, std::size_t max_size) {
  std::size_t question = q.question_end - header_size;
  std::size_t room =
      max_size > header_size + question ? (max_size - header_size - question) / 16 : 0;
  bool wants_a = q.qtype == type_a || q.qtype == type_any;
  std::size_t count = wants_a ? std::min(addresses.size(), room) : 0;
  auto out = response_header(q, noerror, 1, static_cast<uint16_t>(count));
  out.insert(out.end(), packet + header_size, packet + q.question_end);
  for (std::size_t i = 0; i < count; ++i) {
    put16(out, 0xc000 | header_size);  // the name: a pointer to the question's
    put16(out, type_a);
    put16(out, 1);  // IN
    put32(out, 0);  // TTL 0: a container's address goes when it is unplugged
    put16(out, 4);
    put32(out, addresses[i].value);
  }
  if (count < (wants_a ? addresses.size() : 0)) out[2] |= 0x02;  // TC: not every record fit
  return out;
}

std::vector<uint8_t> make_error(const uint8_t* packet, const query& q, rcode code) {
  bool with_question = q.state == query::status::ok;
  auto out = response_header(q, code, with_question ? 1 : 0, 0);
  if (with_question) out.insert(out.end(), packet + header_size, packet + q.question_end);
  return out;
}

std::optional<upstream> parse_upstream(std::string_view text) {
  upstream u;
  u.text = std::string(text);
  std::string host(text);
  uint16_t port = 53;
  auto parse_port = [&](std::string_view p) {
    if (p.empty() || p.size() > 5) return false;
    unsigned v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v == 0 || v > 65535) return false;
    port = static_cast<uint16_t>(v);
    return true;
  };
  if (!text.empty() && text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = std::string(text.substr(1, close - 1));
    auto rest = text.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !parse_port(rest.substr(1)))) return std::nullopt;
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    auto colon = text.find(':');
    host = std::string(text.substr(0, colon));
    if (!parse_port(text.substr(colon + 1))) return std::nullopt;
  }
  sockaddr_in v4{};
  sockaddr_in6 v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4.sin_addr) == 1) {
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    std::memcpy(&u.addr, &v4, sizeof v4);
    u.len = sizeof v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6.sin6_addr) == 1) {
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    std::memcpy(&u.addr, &v6, sizeof v6);
    u.len = sizeof v6;
  } else {
    return std::nullopt;
  }
  return u;
}

std::vector<std::string> nameservers(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    auto word = [&line]() {
      auto start = line.find_first_not_of(" \t\r");
      if (start == std::string_view::npos) return std::string_view{};
      line.remove_prefix(start);
      auto end = line.find_first_of(" \t\r#;");
      auto w = line.substr(0, end);
      line = end == std::string_view::npos ? std::string_view{} : line.substr(end);
      return w;
    };
    if (word() != "nameserver") continue;
    auto addr = word();
    // A zone index ("fe80::1%eth0") is meaningless from another namespace: skip those.
    if (!addr.empty() && addr.find('%') == std::string_view::npos) out.emplace_back(addr);
  }
  return out;
}

// --- the responder ------------------------------------------------------------------------------

namespace {

using clock_type = std::chrono::steady_clock;

constexpr std::size_t max_packet = 4096;  // largest UDP query or upstream answer taken
constexpr std::size_t max_tcp_clients = 32;
constexpr std::size_t max_tcp_buffer = 2 + 65535;
constexpr std::size_t max_pending = 256;  // queries waiting for an upstream
constexpr auto upstream_timeout = std::chrono::seconds(2);
constexpr auto tcp_idle = std::chrono::seconds(10);

struct tcp_client {
  int fd = -1;
  uint64_t id = 0;
  std::vector<uint8_t> in;
  std::vector<uint8_t> out;
  clock_type::time_point deadline;
};

// Where an answer goes: a UDP client's address, or a TCP client by id.
struct origin {
  bool tcp = false;
  uint64_t client = 0;
  sockaddr_storage addr{};
  socklen_t len = 0;
};

struct pending_query {
  int fd = -1;
  std::vector<uint8_t> packet;
  origin from;
  std::size_t next = 0;  // the upstream to try after the current one
  clock_type::time_point deadline;
};

int make_socket(int type, ipv4 address, uint16_t port, std::string& error) {
  int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  if (type == SOCK_STREAM) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(address.value);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
      (type == SOCK_STREAM && ::listen(fd, 16) != 0)) {
    error = std::string(type == SOCK_STREAM ? "tcp " : "udp ") + to_string(address) + ":" +
            std::to_string(port) + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

std::unique_ptr<responder> responder::start(const options& opts, std::string& error) {
  std::unique_ptr<responder> r(new responder());
  r->opts_ = opts;
  r->udp_ = make_socket(SOCK_DGRAM, opts.address, opts.port, error);
  if (r->udp_ < 0) return nullptr;
  if (opts.tcp) {
    r->tcp_ = make_socket(SOCK_STREAM, opts.address, opts.port, error);
    if (r->tcp_ < 0) return nullptr;  // the destructor closes the UDP socket
  }
  r->wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (r->wake_ < 0) {
    error = std::string("eventfd: ") + std::strerror(errno);
    return nullptr;
  }
  r->thread_ = std::thread([p = r.get()] { p->run(); });
  return r;
}

responder::~responder() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_, &one, sizeof one);
    thread_.join();
  }
  for (int fd : {udp_, tcp_, wake_})
    if (fd >= 0) ::close(fd);
}

void responder::set(const std::string& owner, const std::vector<std::string>& names, ipv4 address) {
  entry e;
  for (auto& n : names) {
    auto key = normalize(n);
    if (!key.empty() && std::find(e.names.begin(), e.names.end(), key) == e.names.end())
      e.names.push_back(std::move(key));
  }
  e.address = address;
  std::lock_guard<std::mutex> guard{m_};
  owners_[owner] = std::move(e);
}

void responder::erase(const std::string& owner) {
  std::lock_guard<std::mutex> guard{m_};
  owners_.erase(owner);
}

std::vector<ipv4> responder::lookup(std::string_view name) const {
  auto key = normalize(name);
  std::vector<ipv4> out;
  std::lock_guard<std::mutex> guard{m_};
  for (auto& [owner, e] : owners_)
    if (std::find(e.names.begin(), e.names.end(), key) != e.names.end()) out.push_back(e.address);
  return out;
}

void responder::run() {
  std::vector<tcp_client> clients;
  std::vector<pending_query> pending;
  uint64_t next_client = 1;
  std::vector<uint8_t> buf(max_packet);

  auto send_to = [&](const origin& to, std::vector<uint8_t> answer) {
    if (!to.tcp) {
      ::sendto(udp_, answer.data(), answer.size(), MSG_DONTWAIT,
               reinterpret_cast<const sockaddr*>(&to.addr), to.len);
      return;
    }
    for (auto& c : clients) {
      if (c.id != to.client || c.fd < 0) continue;
      if (c.out.size() + answer.size() + 2 > 4 * max_tcp_buffer) {  // it does not read: drop it
        ::close(c.fd);
        c.fd = -1;
        return;
      }
      c.out.push_back(static_cast<uint8_t>(answer.size() >> 8));
      c.out.push_back(static_cast<uint8_t>(answer.size() & 0xff));
      c.out.insert(c.out.end(), answer.begin(), answer.end());
    }
  };

  // Sends a pending query to its next upstream; false when none is left.
  auto try_upstream = [&](pending_query& p) {
    while (p.next < opts_.upstreams.size()) {
      auto& u = opts_.upstreams[p.next++];
      if (p.fd >= 0) ::close(p.fd);
      p.fd = ::socket(u.addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (p.fd < 0) continue;
      if (::connect(p.fd, reinterpret_cast<const sockaddr*>(&u.addr), u.len) == 0 &&
          ::send(p.fd, p.packet.data(), p.packet.size(), 0) ==
              static_cast<ssize_t>(p.packet.size())) {
        p.deadline = clock_type::now() + upstream_timeout;
        return true;
      }
    }
    if (p.fd >= 0) ::close(p.fd);
    p.fd = -1;
    return false;
  };

  auto fail_pending = [&](const pending_query& p) {
    auto q = parse_query(p.packet.data(), p.packet.size());
    send_to(p.from, make_error(p.packet.data(), q, servfail));
  };

  auto handle = [&](const uint8_t* data, std::size_t size, const origin& from) {
    ++handled_;
    auto q = parse_query(data, size);
    switch (q.state) {
      case query::status::drop:
        return;
      case query::status::formerr:
        send_to(from, make_error(data, q, formerr));
        return;
      case query::status::notimp:
        send_to(from, make_error(data, q, notimp));
        return;
      case query::status::ok:
        break;
    }
    if (q.qclass == 1 || q.qclass == type_any) {
      bool known = false;
      std::vector<ipv4> addrs;
      {
        std::lock_guard<std::mutex> guard{m_};
        for (auto& [owner, e] : owners_)
          if (std::find(e.names.begin(), e.names.end(), q.name) != e.names.end()) {
            known = true;
            addrs.push_back(e.address);
          }
      }
      if (known) {
        send_to(from, make_answer(data, q, addrs, from.tcp ? 65535 : 512));
        return;
      }
    }
    if (pending.size() >= max_pending) {
      send_to(from, make_error(data, q, servfail));
      return;
    }
    pending_query p;
    p.packet.assign(data, data + size);
    p.from = from;
    if (!try_upstream(p)) {
      send_to(from, make_error(data, q, servfail));
      return;
    }
    pending.push_back(std::move(p));
  };

  std::vector<pollfd> fds;
  for (;;) {
    auto now = clock_type::now();
    // Timeouts first: a query whose upstream is silent moves on; an idle TCP client goes.
    for (auto& p : pending)
      if (p.fd >= 0 && now >= p.deadline && !try_upstream(p)) fail_pending(p);
    for (auto& c : clients)
      if (c.fd >= 0 && now >= c.deadline) {
        ::close(c.fd);
        c.fd = -1;
      }
    std::erase_if(pending, [](const pending_query& p) { return p.fd < 0; });
    std::erase_if(clients, [](const tcp_client& c) { return c.fd < 0; });

    fds.clear();
    fds.push_back({wake_, POLLIN, 0});
    fds.push_back({udp_, POLLIN, 0});
    fds.push_back({tcp_ >= 0 && clients.size() < max_tcp_clients ? tcp_ : -1, POLLIN, 0});
    // Entries 3.. are these clients, then these pending queries; both lists may grow while this
    // round handles what came in, so only the ones polled are walked.
    const std::size_t polled_clients = clients.size();
    const std::size_t polled_pending = pending.size();
    for (auto& c : clients)
      fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
    for (auto& p : pending) fds.push_back({p.fd, POLLIN, 0});
    auto next = now + tcp_idle;
    for (auto& p : pending) next = std::min(next, p.deadline);
    for (auto& c : clients) next = std::min(next, c.deadline);
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1;
    if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<int64_t>(wait, 0))) < 0 &&
        errno != EINTR)
      break;
    if (fds[0].revents) break;

    // UDP queries: a bounded number per round, so TCP and upstreams get their turn.
    if (fds[1].revents & POLLIN) {
      for (int i = 0; i < 64; ++i) {
        origin from;
        from.len = sizeof from.addr;
        auto n = ::recvfrom(udp_, buf.data(), buf.size(), MSG_TRUNC,
                            reinterpret_cast<sockaddr*>(&from.addr), &from.len);
        if (n < 0) break;
        if (static_cast<std::size_t>(n) > buf.size()) continue;  // oversized: dropped
        handle(buf.data(), static_cast<std::size_t>(n), from);
      }
    }
    if (fds[2].fd >= 0 && (fds[2].revents & POLLIN)) {
      int fd = ::accept4(tcp_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) {
        tcp_client c;
        c.fd = fd;
        c.id = next_client++;
        c.deadline = clock_type::now() + tcp_idle;
        clients.push_back(std::move(c));
      }
    }
    std::size_t idx = 3;
    for (std::size_t i = 0; i < polled_clients; ++i, ++idx) {
      auto revents = fds[idx].revents;
      if (!revents || clients[i].fd < 0) continue;
      if (revents & POLLIN) {
        char tmp[8192];
        auto n = ::read(clients[i].fd, tmp, sizeof tmp);
        if (n <= 0) {
          if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
          ::close(clients[i].fd);
          clients[i].fd = -1;
          continue;
        }
        clients[i].in.insert(clients[i].in.end(), tmp, tmp + n);
        clients[i].deadline = clock_type::now() + tcp_idle;
        // Every complete length-prefixed message.
        while (clients[i].in.size() >= 2) {
          std::size_t len = get16(clients[i].in.data());
          if (clients[i].in.size() < 2 + len) break;
          std::vector<uint8_t> msg(clients[i].in.begin() + 2,
                                   clients[i].in.begin() + 2 + static_cast<std::ptrdiff_t>(len));
          clients[i].in.erase(clients[i].in.begin(),
                              clients[i].in.begin() + 2 + static_cast<std::ptrdiff_t>(len));
          origin from;
          from.tcp = true;
          from.client = clients[i].id;
          handle(msg.data(), msg.size(), from);
        }
        if (clients[i].in.size() > max_tcp_buffer) {
          ::close(clients[i].fd);
          clients[i].fd = -1;
          continue;
        }
      }
      if (clients[i].fd >= 0 && !clients[i].out.empty() && (revents & POLLOUT)) {
        auto n = ::write(clients[i].fd, clients[i].out.data(), clients[i].out.size());
        if (n > 0)
          clients[i].out.erase(clients[i].out.begin(), clients[i].out.begin() + n);
        else if (n < 0 && errno != EAGAIN && errno != EINTR) {
          ::close(clients[i].fd);
          clients[i].fd = -1;
        }
      }
      if (clients[i].fd >= 0 && (revents & (POLLERR | POLLHUP | POLLNVAL)) && !(revents & POLLIN)) {
        ::close(clients[i].fd);
        clients[i].fd = -1;
      }
    }
    for (std::size_t i = 0; i < polled_pending; ++i, ++idx) {
      auto& p = pending[i];
      if (!fds[idx].revents || p.fd < 0) continue;
      auto n = ::recv(p.fd, buf.data(), buf.size(), MSG_TRUNC);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        if (!try_upstream(p)) fail_pending(p);  // refused or unreachable: the next one
        continue;
      }
      // Only an answer with the query's id counts; anything else is ignored.
      if (static_cast<std::size_t>(n) < header_size || static_cast<std::size_t>(n) > buf.size() ||
          get16(buf.data()) != get16(p.packet.data()) || !(buf[2] & 0x80))
        continue;
      send_to(p.from, std::vector<uint8_t>(buf.begin(), buf.begin() + n));
      ::close(p.fd);
      p.fd = -1;
    }
    // Flush what TCP clients got this round.
    for (auto& c : clients) {
      if (c.fd < 0 || c.out.empty()) continue;
      auto n = ::write(c.fd, c.out.data(), c.out.size());
      if (n > 0) c.out.erase(c.out.begin(), c.out.begin() + n);
    }
  }
  for (auto& c : clients)
    if (c.fd >= 0) ::close(c.fd);
  for (auto& p : pending)
    if (p.fd >= 0) ::close(p.fd);
}

}  // namespace berth::net::dns
