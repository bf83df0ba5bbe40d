// dns_support: DNS packets for the net-actor tests: queries built by hand, answers read with
// bounds checks, a UDP exchange and a fake upstream resolver on 127.0.0.1.
#pragma once

#include "dns.hpp"
#include "support.hpp"

#include <atomic>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace berth::net::test {

using bytes = std::vector<uint8_t>;

inline void put16(bytes& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

// A query for `name` as a resolver sends it.
inline bytes make_query(uint16_t id, const std::string& name, uint16_t qtype = dns::type_a,
                        uint16_t flags = 0x0100, uint16_t qclass = 1) {
  bytes out;
  put16(out, id);
  put16(out, flags);
  put16(out, 1);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
  std::size_t start = 0;
  while (start <= name.size() && !name.empty()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    auto label = name.substr(start, dot - start);
    if (label.empty()) break;
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    start = dot + 1;
  }
  out.push_back(0);
  put16(out, qtype);
  put16(out, qclass);
  return out;
}

inline uint16_t get16(const bytes& b, std::size_t at) {
  return static_cast<uint16_t>(b.at(at) << 8 | b.at(at + 1));
}

// What a response says, read with bounds checks (at() throws on a short packet).
struct response {
  uint16_t id = 0;
  uint16_t flags = 0;
  uint16_t qdcount = 0;
  uint16_t ancount = 0;
  std::vector<std::string> addresses;
  uint32_t rcode() const { return flags & 0xf; }
  bool truncated() const { return flags & 0x0200; }
  bool complete = false;  ///< Every byte was part of the header, question or answers.
};

inline std::size_t skip_name(const bytes& b, std::size_t at) {
  for (;;) {
    auto len = b.at(at);
    if (len == 0) return at + 1;
    if ((len & 0xc0) == 0xc0) return at + 2;
    at += 1u + len;
  }
}

inline response read_response(const bytes& b) {
  response r;
  r.id = get16(b, 0);
  r.flags = get16(b, 2);
  r.qdcount = get16(b, 4);
  r.ancount = get16(b, 6);
  std::size_t at = 12;
  for (int i = 0; i < r.qdcount; ++i) at = skip_name(b, at) + 4;
  for (int i = 0; i < r.ancount; ++i) {
    at = skip_name(b, at);
    auto type = get16(b, at);
    auto rdlen = get16(b, at + 8);
    at += 10;
    if (type == dns::type_a && rdlen == 4)
      r.addresses.push_back(std::to_string(b.at(at)) + "." + std::to_string(b.at(at + 1)) + "." +
                            std::to_string(b.at(at + 2)) + "." + std::to_string(b.at(at + 3)));
    at += rdlen;
  }
  r.complete = at == b.size();
  return r;
}

// A UDP exchange with ip:port over the UDP socket `fd` (of whichever namespace it was made in);
// nothing when no answer came within `ms`.
inline std::optional<bytes> ask_udp_on(int fd, const std::string& ip, uint16_t port, const bytes& q,
                                       int ms = 3000) {
  auto sa = address(ip, port);
  ::sendto(fd, q.data(), q.size(), 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  if (!readable(fd, ms)) return std::nullopt;
  bytes buf(65536);
  auto n = ::recv(fd, buf.data(), buf.size(), 0);
  if (n < 0) return std::nullopt;
  buf.resize(static_cast<std::size_t>(n));
  return buf;
}

// A UDP exchange with ip:port from a fresh socket; nothing when no answer came within `ms`.
inline std::optional<bytes> ask_udp(uint16_t port, const bytes& q, int ms = 3000,
                                    const std::string& ip = "127.0.0.1") {
  sock s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  return ask_udp_on(s.fd, ip, port, q, ms);
}

// A fake upstream resolver on 127.0.0.1: answers every A query with `answer` (or stays silent),
// counting what it got.
struct fake_upstream {
  sock s = bound(SOCK_DGRAM, "127.0.0.1", 0);
  std::string answer;
  bool silent = false;
  std::atomic<int> queries{0};
  std::atomic<bool> stop{false};
  std::thread thread;

  explicit fake_upstream(std::string a, bool quiet = false) : answer(std::move(a)), silent(quiet) {
    if (s.fd < 0) throw std::runtime_error("fake upstream: no socket");
    thread = std::thread([this] {
      bytes buf(4096);
      while (!stop) {
        if (!readable(s.fd, 50)) continue;
        sockaddr_in from{};
        socklen_t len = sizeof from;
        auto n =
            ::recvfrom(s.fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 12) continue;
        ++queries;
        if (silent) continue;
        bytes reply(buf.begin(), buf.begin() + n);
        reply[2] |= 0x80;  // QR
        reply[3] = 0x80;   // RA, NOERROR
        reply[7] = 1;      // one answer
        put16(reply, 0xc00c);
        put16(reply, dns::type_a);
        put16(reply, 1);
        put16(reply, 0);
        put16(reply, 60);
        put16(reply, 4);
        auto a = *parse_ipv4(answer);
        for (int shift : {24, 16, 8, 0}) reply.push_back(static_cast<uint8_t>(a.value >> shift));
        ::sendto(s.fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~fake_upstream() {
    stop = true;
    thread.join();
  }
  dns::upstream upstream() const {
    return *dns::parse_upstream("127.0.0.1:" + std::to_string(port_of(s.fd)));
  }
};

}  // namespace berth::net::test
