// Tests for the DNS responder: packet parsing and answers on packets built here (hostile ones
// included), upstream and resolv.conf parsing, and a real responder on 127.0.0.1 answering
// container names over UDP and TCP and relaying other names to fake upstream resolvers, also on
// 127.0.0.1.
#include "dns.hpp"

#include "dns_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <thread>

using namespace berth::net;
using namespace berth::net::test;
using berth::net::dns::query;

namespace {

ipv4 ip(const char* text) {
  return *parse_ipv4(text);
}

// A responder on 127.0.0.1 at a free port.
std::unique_ptr<dns::responder> start_responder(uint16_t& port,
                                                std::vector<dns::upstream> upstreams = {}) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    dns::responder::options o;
    o.address = ip("127.0.0.1");
    o.port = free_port("127.0.0.1");
    o.upstreams = upstreams;
    std::string error;
    if (auto r = dns::responder::start(o, error)) {
      port = o.port;
      return r;
    }
  }
  FAIL("no responder could be started");
  return nullptr;
}

}  // namespace

TEST_CASE("a standard query is read: id, flags, lowercase name, type and class") {
  auto q = make_query(0x1234, "Web.Example.", dns::type_aaaa);
  auto r = dns::parse_query(q.data(), q.size());
  CHECK(r.state == query::status::ok);
  CHECK(r.id == 0x1234);
  CHECK(r.flags == 0x0100);
  CHECK(r.name == "web.example");
  CHECK(r.qtype == dns::type_aaaa);
  CHECK(r.qclass == 1);
  CHECK(r.question_end == q.size());

  auto root = make_query(1, "");
  auto rr = dns::parse_query(root.data(), root.size());
  CHECK(rr.state == query::status::ok);
  CHECK(rr.name.empty());

  // Extra bytes after the question (an EDNS OPT record) are left alone.
  auto edns = make_query(2, "db");
  edns[11] = 1;  // ARCOUNT
  edns.insert(edns.end(), {0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0});
  auto re = dns::parse_query(edns.data(), edns.size());
  CHECK(re.state == query::status::ok);
  CHECK(re.name == "db");
  CHECK(re.question_end == edns.size() - 11);
}

TEST_CASE("names normalise to lowercase without the trailing dot") {
  CHECK(dns::normalize("Web.") == "web");
  CHECK(dns::normalize("DB") == "db");
  CHECK(dns::normalize("") == "");
  CHECK(dns::normalize(".") == "");
}

TEST_CASE("hostile or odd packets are dropped or refused, never read past their end") {
  auto good = make_query(7, "web");
  // Shorter than a header, and nothing at all: dropped.
  CHECK(dns::parse_query(good.data(), 11).state == query::status::drop);
  CHECK(dns::parse_query(nullptr, 0).state == query::status::drop);
  // A response: never answered (no loops between resolvers).
  auto resp = good;
  resp[2] |= 0x80;
  CHECK(dns::parse_query(resp.data(), resp.size()).state == query::status::drop);
  // Another opcode (a NOTIFY, 4): not implemented.
  auto notify = make_query(7, "web", dns::type_a, 4 << 11);
  CHECK(dns::parse_query(notify.data(), notify.size()).state == query::status::notimp);
  // No question, or two.
  auto none = good;
  none[5] = 0;
  CHECK(dns::parse_query(none.data(), none.size()).state == query::status::formerr);
  auto two = good;
  two[5] = 2;
  CHECK(dns::parse_query(two.data(), two.size()).state == query::status::formerr);
  // Truncated anywhere inside the question.
  for (std::size_t n = 12; n < good.size(); ++n) {
    INFO(n);
    CHECK(dns::parse_query(good.data(), n).state == query::status::formerr);
  }
  // A compression pointer to itself (a loop for a naive reader), and one forward.
  bytes loop(good.begin(), good.begin() + 12);
  loop.insert(loop.end(), {0xc0, 12, 0, 1, 0, 1});
  CHECK(dns::parse_query(loop.data(), loop.size()).state == query::status::formerr);
  bytes fwd(good.begin(), good.begin() + 12);
  fwd.insert(fwd.end(), {3, 'w', 'e', 'b', 0xc0, 12, 0, 1, 0, 1});
  CHECK(dns::parse_query(fwd.data(), fwd.size()).state == query::status::formerr);
  // A label length that runs past the packet.
  bytes past(good.begin(), good.begin() + 12);
  past.insert(past.end(), {60, 'a', 'b'});
  CHECK(dns::parse_query(past.data(), past.size()).state == query::status::formerr);
  // A name longer than 255 bytes.
  std::string longname;
  for (int i = 0; i < 5; ++i) longname += std::string(60, 'a' + i) + ".";
  auto big = make_query(8, longname);
  CHECK(dns::parse_query(big.data(), big.size()).state == query::status::formerr);
  // Random bytes after a valid header never crash the reader.
  std::mt19937 rng(4242);
  for (int i = 0; i < 20000; ++i) {
    bytes junk(good.begin(), good.begin() + 12);
    junk[2] = 0x01;
    junk[5] = 1;
    auto n = rng() % 300;
    for (unsigned k = 0; k < n; ++k) junk.push_back(static_cast<uint8_t>(rng()));
    auto r = dns::parse_query(junk.data(), junk.size());
    if (r.state == query::status::ok) {
      CHECK(r.question_end <= junk.size());
      CHECK(r.name.size() <= 255);
      auto answer = dns::make_answer(junk.data(), r, {ip("10.0.0.1")});
      CHECK(answer.size() <= 512);
    }
  }
}

TEST_CASE("an answer carries the question and one A record per address, TTL 0") {
  auto q = make_query(0xbeef, "Web");
  auto parsed = dns::parse_query(q.data(), q.size());
  auto a = dns::make_answer(q.data(), parsed, {ip("10.89.0.5"), ip("10.89.0.6")});
  auto r = read_response(a);
  CHECK(r.complete);
  CHECK(r.id == 0xbeef);
  CHECK((r.flags & 0x8000) != 0);  // QR
  CHECK((r.flags & 0x0400) != 0);  // AA
  CHECK((r.flags & 0x0100) != 0);  // RD, as asked
  CHECK((r.flags & 0x0080) != 0);  // RA
  CHECK(r.rcode() == dns::noerror);
  CHECK(r.qdcount == 1);
  CHECK(r.addresses == std::vector<std::string>{"10.89.0.5", "10.89.0.6"});
  // The question is copied as asked (case included); the record names point at it, TTL 0.
  CHECK(bytes(a.begin() + 12, a.begin() + 12 + (q.size() - 12)) == bytes(q.begin() + 12, q.end()));
  CHECK(a[q.size()] == 0xc0);
  CHECK(a[q.size() + 1] == 12);
  CHECK(get16(a, q.size() + 6) == 0);
  CHECK(get16(a, q.size() + 8) == 0);

  // AAAA for a known name: it exists, without records of that type.
  auto q6 = make_query(3, "web", dns::type_aaaa);
  auto r6 = read_response(
      dns::make_answer(q6.data(), dns::parse_query(q6.data(), q6.size()), {ip("10.89.0.5")}));
  CHECK(r6.rcode() == dns::noerror);
  CHECK(r6.ancount == 0);

  // More records than fit in 512 bytes: as many as fit, and the TC bit.
  std::vector<ipv4> many;
  for (uint32_t i = 0; i < 60; ++i) many.push_back(ipv4{0x0a000001u + i});
  auto full = dns::make_answer(q.data(), parsed, many);
  CHECK(full.size() <= 512);
  auto rf = read_response(full);
  CHECK(rf.complete);
  CHECK(rf.truncated());
  CHECK(rf.ancount == (512 - q.size()) / 16);
  auto tcp = read_response(dns::make_answer(q.data(), parsed, many, 65535));
  CHECK_FALSE(tcp.truncated());
  CHECK(tcp.ancount == 60);
}

TEST_CASE("an error answer carries the code and the question when there was one") {
  auto q = make_query(9, "nowhere");
  auto parsed = dns::parse_query(q.data(), q.size());
  auto r = read_response(dns::make_error(q.data(), parsed, dns::servfail));
  CHECK(r.id == 9);
  CHECK(r.rcode() == dns::servfail);
  CHECK(r.qdcount == 1);
  CHECK(r.ancount == 0);

  auto broken = make_query(10, "x");
  broken[5] = 3;
  auto pb = dns::parse_query(broken.data(), broken.size());
  auto e = dns::make_error(broken.data(), pb, dns::formerr);
  CHECK(e.size() == 12);
  auto re = read_response(e);
  CHECK(re.complete);
  CHECK(re.id == 10);
  CHECK(re.rcode() == dns::formerr);
  CHECK(re.qdcount == 0);
}

TEST_CASE("resolv.conf gives its nameservers in order, comments and zone indexes left out") {
  auto text =
      "# generated\n"
      "search example.com\n"
      "nameserver 10.0.0.2\n"
      "\tnameserver\t192.168.1.1   # the router\n"
      "nameserver fe80::1%eth0\n"
      "nameservers 1.1.1.1\n"
      ";nameserver 8.8.8.8\n"
      "nameserver 2001:db8::53;comment\n"
      "nameserver\n"
      "options ndots:2\r\n"
      "nameserver 127.0.0.53";
  CHECK(dns::nameservers(text) ==
        std::vector<std::string>{"10.0.0.2", "192.168.1.1", "2001:db8::53", "127.0.0.53"});
  CHECK(dns::nameservers("").empty());
}

TEST_CASE("upstream resolvers are addresses with an optional port") {
  auto plain = dns::parse_upstream("1.1.1.1");
  REQUIRE(plain);
  CHECK(plain->addr.ss_family == AF_INET);
  CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&plain->addr)->sin_port) == 53);
  auto port = dns::parse_upstream("127.0.0.1:5353");
  REQUIRE(port);
  CHECK(ntohs(reinterpret_cast<sockaddr_in*>(&port->addr)->sin_port) == 5353);
  auto v6 = dns::parse_upstream("2001:db8::1");
  REQUIRE(v6);
  CHECK(v6->addr.ss_family == AF_INET6);
  CHECK(ntohs(reinterpret_cast<sockaddr_in6*>(&v6->addr)->sin6_port) == 53);
  auto v6port = dns::parse_upstream("[::1]:5300");
  REQUIRE(v6port);
  CHECK(ntohs(reinterpret_cast<sockaddr_in6*>(&v6port->addr)->sin6_port) == 5300);
  for (auto bad : {"", "dns.example", "1.1.1.1:0", "1.1.1.1:65536", "1.1.1.1:x", "[::1", "[::1]x",
                   "[::1]:", "1.1.1.1:", "300.1.1.1"})
    CHECK_FALSE(dns::parse_upstream(bad));
}

TEST_CASE(
    "a responder answers container names over UDP and TCP, and nothing else without upstreams") {
  uint16_t port = 0;
  auto r = start_responder(port);
  r->set("c1", {"web", "Frontend", "web"}, ip("10.89.0.5"));
  r->set("c2", {"db", "frontend"}, ip("10.89.0.6"));
  CHECK(r->lookup("WEB.") == std::vector<ipv4>{ip("10.89.0.5")});

  auto a = ask_udp(port, make_query(1, "WEB."));
  REQUIRE(a);
  auto ra = read_response(*a);
  CHECK(ra.id == 1);
  CHECK(ra.rcode() == dns::noerror);
  CHECK(ra.addresses == std::vector<std::string>{"10.89.0.5"});

  // An alias two containers share gives both.
  auto both = read_response(*ask_udp(port, make_query(2, "frontend")));
  CHECK(both.addresses == std::vector<std::string>{"10.89.0.5", "10.89.0.6"});

  // AAAA of a container: no record, no error (so resolvers do not go elsewhere).
  auto six = read_response(*ask_udp(port, make_query(3, "db", dns::type_aaaa)));
  CHECK(six.rcode() == dns::noerror);
  CHECK(six.ancount == 0);

  // Any other name, with no upstream: SERVFAIL.
  auto other = read_response(*ask_udp(port, make_query(4, "example.com")));
  CHECK(other.rcode() == dns::servfail);

  // Over TCP: length-prefixed, two queries on one connection.
  auto c = connect_tcp("127.0.0.1", port);
  REQUIRE(c.fd >= 0);
  for (uint16_t id : {5, 6}) {
    auto q = make_query(id, "db");
    std::string framed{static_cast<char>(q.size() >> 8), static_cast<char>(q.size() & 0xff)};
    framed.append(q.begin(), q.end());
    REQUIRE(send_all(c.fd, framed));
    auto len = recv_n(c.fd, 2);
    REQUIRE(len.size() == 2);
    auto n =
        static_cast<std::size_t>(static_cast<uint8_t>(len[0]) << 8 | static_cast<uint8_t>(len[1]));
    auto body = recv_n(c.fd, n);
    REQUIRE(body.size() == n);
    auto rt = read_response(bytes(body.begin(), body.end()));
    CHECK(rt.id == id);
    CHECK(rt.addresses == std::vector<std::string>{"10.89.0.6"});
  }

  // Names go with their owner.
  r->erase("c1");
  CHECK(r->lookup("web").empty());
  auto gone = read_response(*ask_udp(port, make_query(7, "frontend")));
  CHECK(gone.addresses == std::vector<std::string>{"10.89.0.6"});
  CHECK(read_response(*ask_udp(port, make_query(8, "web"))).rcode() == dns::servfail);
}

TEST_CASE("a responder survives hostile packets and answers the next good query") {
  uint16_t port = 0;
  auto r = start_responder(port);
  r->set("c1", {"web"}, ip("10.89.0.5"));

  // A response, garbage shorter than a header, and an oversized datagram: no answer at all.
  auto resp = make_query(1, "web");
  resp[2] |= 0x80;
  CHECK_FALSE(ask_udp(port, resp, 200));
  CHECK_FALSE(ask_udp(port, bytes{1, 2, 3}, 200));
  CHECK_FALSE(ask_udp(port, bytes(9000, 0x41), 200));
  // A compression loop and a truncated question: FORMERR.
  auto q = make_query(2, "web");
  bytes loop(q.begin(), q.begin() + 12);
  loop.insert(loop.end(), {0xc0, 12, 0, 1, 0, 1});
  auto fl = ask_udp(port, loop);
  REQUIRE(fl);
  CHECK(read_response(*fl).rcode() == dns::formerr);
  auto ft = ask_udp(port, bytes(q.begin(), q.end() - 3));
  REQUIRE(ft);
  CHECK(read_response(*ft).rcode() == dns::formerr);
  // A TCP client that claims a long message and then goes silent does not block UDP.
  auto idle = connect_tcp("127.0.0.1", port);
  REQUIRE(idle.fd >= 0);
  REQUIRE(send_all(idle.fd, std::string("\xff\xff\x00", 3)));
  // Still answering.
  auto ok = ask_udp(port, make_query(3, "web"));
  REQUIRE(ok);
  CHECK(read_response(*ok).addresses == std::vector<std::string>{"10.89.0.5"});
  // Every datagram but the oversized one (dropped unread) was looked at.
  CHECK(r->handled() == 5);
}

TEST_CASE("other names are relayed to the upstreams in order, past dead and silent ones") {
  fake_upstream good("192.0.2.7");
  fake_upstream quiet("192.0.2.99", true);
  // A port nothing listens on: the kernel refuses at once on loopback.
  auto dead_port = free_port("127.0.0.1");
  auto dead = *dns::parse_upstream("127.0.0.1:" + std::to_string(dead_port));

  uint16_t port = 0;
  auto r = start_responder(port, {dead, good.upstream()});
  r->set("c1", {"web"}, ip("10.89.0.5"));
  auto a = ask_udp(port, make_query(0x4242, "Example.COM"));
  REQUIRE(a);
  auto ra = read_response(*a);
  CHECK(ra.id == 0x4242);
  CHECK(ra.rcode() == dns::noerror);
  CHECK(ra.addresses == std::vector<std::string>{"192.0.2.7"});
  CHECK(good.queries == 1);
  // Container names never leave.
  CHECK(read_response(*ask_udp(port, make_query(5, "web"))).addresses ==
        std::vector<std::string>{"10.89.0.5"});
  CHECK(good.queries == 1);
  r.reset();

  // A silent upstream: after its timeout the next one answers.
  auto r2 = start_responder(port, {quiet.upstream(), good.upstream()});
  auto start = std::chrono::steady_clock::now();
  auto b = ask_udp(port, make_query(6, "example.org"), 6000);
  REQUIRE(b);
  CHECK(read_response(*b).addresses == std::vector<std::string>{"192.0.2.7"});
  CHECK(quiet.queries == 1);
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(1500));

  // Every upstream silent: SERVFAIL in the end.
  auto r3 = start_responder(port, {quiet.upstream()});
  auto c = ask_udp(port, make_query(7, "example.net"), 6000);
  REQUIRE(c);
  CHECK(read_response(*c).rcode() == dns::servfail);
}

TEST_CASE("a responder cannot start on a port that is taken, and frees it when destroyed") {
  uint16_t port = 0;
  auto r = start_responder(port);
  dns::responder::options o;
  o.address = ip("127.0.0.1");
  o.port = port;
  std::string error;
  CHECK_FALSE(dns::responder::start(o, error));
  CHECK_THAT(error, Catch::Contains("127.0.0.1:" + std::to_string(port)));
  r.reset();
  auto again = dns::responder::start(o, error);
  CHECK(again);
}
