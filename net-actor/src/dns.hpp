// dns: each network's DNS responder on its gateway address, and the packet code it runs on.
//
// The responder answers A queries for the names of the containers plugged on its network (their
// names, aliases and short ids; case-insensitive, with or without a trailing dot) with their
// address on that network, and relays every other query to the upstream resolvers. It is one
// thread per network with a poll() loop over a UDP socket and a TCP listener on gateway:53, the
// TCP clients and the queries in flight upstream; a stop() wakes and joins it. Nothing it
// receives is trusted: packets are parsed with bounds checks and size limits, and anything that is
// not a well-formed standard query is dropped or answered with an error code.
#pragma once

#include "addr.hpp"

#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace berth::net::dns {

/// Response codes.
enum rcode : uint8_t {
  noerror = 0,
  formerr = 1,
  servfail = 2,
  nxdomain = 3,
  notimp = 4,
  refused = 5
};

/// Record types berth looks at.
enum rtype : uint16_t { type_a = 1, type_aaaa = 28, type_any = 255 };

/// What parse_query made of a packet.
struct query {
  enum class status {
    ok,       ///< A standard query with one question.
    drop,     ///< Not worth an answer: shorter than a header, or a response.
    formerr,  ///< A query whose question cannot be read.
    notimp,   ///< A query with another opcode.
  };
  status state = status::drop;
  uint16_t id = 0;
  uint16_t flags = 0;
  std::string name;  ///< Lowercase, without the trailing dot ("" for the root).
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  std::size_t question_end = 0;  ///< Offset just past the question.
};

/// Reads the header and the one question of a DNS query.
query parse_query(const uint8_t* data, std::size_t size);

/// The answer to `q` (parsed from `packet`) with `addresses` as A records (TTL 0) when it asks
/// for A or ANY, else no record (the name exists, the type does not). At most as many records as
/// fit in `max_size` bytes (512 for UDP).
std::vector<uint8_t> make_answer(const uint8_t* packet, const query& q,
                                 const std::vector<ipv4>& addresses, std::size_t max_size = 512);

/// An answer to `q` carrying only `code` (and the question, when it could be read).
std::vector<uint8_t> make_error(const uint8_t* packet, const query& q, rcode code);

/// A name as the table keys it: lowercase, without a trailing dot.
std::string normalize(std::string_view name);

/// A resolver to relay to.
struct upstream {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string text;  ///< As given.
};

/// Parses "1.1.1.1", "1.1.1.1:5353", "2001:db8::1" or "[2001:db8::1]:53".
std::optional<upstream> parse_upstream(std::string_view text);

/// The `nameserver` addresses of resolv.conf text, in order.
std::vector<std::string> nameservers(std::string_view resolv_conf);

/// A running responder.
class responder {
 public:
  /// How a responder runs.
  struct options {
    ipv4 address;  ///< Where it listens (the gateway).
    uint16_t port = 53;
    std::vector<upstream> upstreams;  ///< Empty: every other name is SERVFAIL.
    bool tcp = true;                  ///< Also serve DNS over TCP.
  };

  /// Binds the sockets and starts the thread; a readable error when a socket cannot be bound.
  static std::unique_ptr<responder> start(const options& opts, std::string& error);

  /// Stops and joins the thread.
  ~responder();

  responder(const responder&) = delete;
  responder& operator=(const responder&) = delete;

  /// Makes `names` resolve to `address` for `owner` (a container id), replacing what it had.
  void set(const std::string& owner, const std::vector<std::string>& names, ipv4 address);

  /// Forgets the names of `owner`.
  void erase(const std::string& owner);

  /// The addresses `name` resolves to here (for tests and the log).
  std::vector<ipv4> lookup(std::string_view name) const;

  /// Packets handled so far (for tests).
  uint64_t handled() const { return handled_.load(); }

 private:
  responder() = default;
  void run();

  struct entry {
    std::vector<std::string> names;
    ipv4 address;
  };

  options opts_;
  int udp_ = -1;
  int tcp_ = -1;
  int wake_ = -1;
  std::thread thread_;
  mutable std::mutex m_;
  std::map<std::string, entry> owners_;  ///< By container id.
  std::atomic<uint64_t> handled_{0};
};

}  // namespace berth::net::dns
