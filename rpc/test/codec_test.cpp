// Tests for the msgpack-RPC codec: framing, shape checks and the limits that keep a hostile peer
// from crashing or exhausting the process that decodes.
#include "berth/rpc/codec.hpp"
#include "berth/rpc/fields.hpp"

#include <catch2/catch.hpp>

#include <vector>

using namespace berth;
using namespace berth::rpc;

namespace {

struct point {
  int x = 0;
  std::string name;
  MSGPACK_DEFINE_MAP(x, name);
};

struct named {
  std::string name;
  uint16_t rows = 0;
  std::vector<std::string> cmd;
  bool tty = false;
  BERTH_FIELDS(named, name, rows, cmd, tty);
};

std::vector<message> decode_all(decoder& dec, const std::string& bytes) {
  dec.feed(bytes.data(), bytes.size());
  std::vector<message> out;
  message m;
  while (dec.next(m)) out.push_back(std::move(m));
  return out;
}

// A msgpack array header claiming `n` elements, with none of them following.
std::string array_header(uint32_t n) {
  byte_buffer buf;
  msgpack::packer<byte_buffer>(buf).pack_array(n);
  return buf.data;
}

}  // namespace

TEST_CASE("a request, a response and a notification survive encoding and decoding") {
  decoder dec;
  auto bytes = encode_request(7, "container.start", point{3, "web"}) +
               encode_result(7, point{4, "ok"}) + encode_notification("stream.data", point{5, "x"});
  auto msgs = decode_all(dec, bytes);
  REQUIRE(msgs.size() == 3);
  CHECK(msgs[0].type == kind::request);
  CHECK(msgs[0].id == 7);
  CHECK(msgs[0].method == "container.start");
  CHECK(arg<point>(msgs[0]).name == "web");
  CHECK(msgs[1].type == kind::response);
  CHECK(result_as<point>(msgs[1]).x == 4);
  CHECK(msgs[2].type == kind::notification);
  CHECK(arg<point>(msgs[2]).x == 5);
  CHECK(dec.buffered() == 0);
}

TEST_CASE("a message fed one byte at a time is decoded once it is complete") {
  decoder dec;
  auto bytes = encode_request(1, "ping", point{1, std::string(1000, 'a')});
  message m;
  for (std::size_t i = 0; i + 1 < bytes.size(); ++i) {
    dec.feed(bytes.data() + i, 1);
    REQUIRE_FALSE(dec.next(m));
  }
  dec.feed(bytes.data() + bytes.size() - 1, 1);
  REQUIRE(dec.next(m));
  CHECK(arg<point>(m).name.size() == 1000);
}

TEST_CASE("a decoded message stays valid after the decoder moves on") {
  decoder dec;
  message first;
  auto a = encode_request(1, "a", point{1, "first-payload"});
  dec.feed(a.data(), a.size());
  REQUIRE(dec.next(first));
  for (int i = 0; i < 100; ++i) {
    auto b = encode_request(2, "b", point{2, std::string(4096, 'z')});
    message m;
    dec.feed(b.data(), b.size());
    REQUIRE(dec.next(m));
  }
  CHECK(arg<point>(first).name == "first-payload");
}

TEST_CASE("a request without arguments has an empty params array") {
  decoder dec;
  auto msgs = decode_all(dec, encode_request(9, "system.info"));
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].params.via.array.size == 0);
  CHECK(arg<point>(msgs[0]).x == 0);
  CHECK(packed_arg(msgs[0]) == std::string("\x80", 1));
}

TEST_CASE("an error response carries its class and message") {
  decoder dec;
  auto msgs = decode_all(dec, encode_error(3, errc::not_found, "no such container: web"));
  REQUIRE(msgs.size() == 1);
  auto err = error_of(msgs[0]);
  CHECK(err.code == errc::not_found);
  CHECK(err.message == "no such container: web");
  try {
    result_as<point>(msgs[0]);
    FAIL("result_as did not throw");
  } catch (const call_error& e) {
    CHECK(e.code() == errc::not_found);
  }
}

TEST_CASE("an error code this build does not know is read as internal") {
  decoder dec;
  byte_buffer buf;
  msgpack::packer<byte_buffer> pk(buf);
  pk.pack_array(4).pack(1).pack(1);
  pk.pack_map(2)
      .pack(std::string("code"))
      .pack(200)
      .pack(std::string("message"))
      .pack(std::string("?"));
  pk.pack_nil();
  auto msgs = decode_all(dec, buf.data);
  CHECK(error_of(msgs.at(0)).code == errc::internal);
}

TEST_CASE("arguments of the wrong type are an invalid_argument error, not a crash") {
  decoder dec;
  std::map<std::string, std::string> wrong{{"x", "not a number"}};
  auto msgs = decode_all(dec, encode_request(1, "m", wrong));
  try {
    arg<point>(msgs.at(0));
    FAIL("arg did not throw");
  } catch (const call_error& e) {
    CHECK(e.code() == errc::invalid_argument);
  }
}

// The error names the field and what it must be (it was "std::bad_cast").
std::string bad_arg_text(const std::string& packed_arg) {
  decoder dec;
  auto msgs = decode_all(dec, encode_request(1, "container.create", packed_view{packed_arg}));
  try {
    arg<named>(msgs.at(0));
  } catch (const call_error& e) {
    CHECK(e.code() == errc::invalid_argument);
    return e.what();
  }
  return "no error";
}

TEST_CASE("a wrong-typed argument is answered with the name of its field and the type it needs") {
  CHECK(bad_arg_text(pack(std::map<std::string, int>{{"name", 5}})) ==
        "invalid argument to container.create: field 'name' must be a string");
  CHECK(bad_arg_text(pack(std::map<std::string, int>{{"rows", 70000}})) ==
        "invalid argument to container.create: field 'rows' must be an integer from 0 to 65535");
  CHECK(bad_arg_text(pack(std::map<std::string, std::vector<int>>{{"cmd", {1}}})) ==
        "invalid argument to container.create: field 'cmd' must be an array, each item a string");
  CHECK(bad_arg_text(pack(std::map<std::string, std::string>{{"tty", "yes"}})) ==
        "invalid argument to container.create: field 'tty' must be a boolean");
  CHECK(bad_arg_text(pack(std::vector<int>{1, 2})) ==
        "invalid argument to container.create: the argument must be a map");
  // A right field next to the wrong one: the wrong one is named.
  byte_buffer two;
  msgpack::packer<byte_buffer> pk(two);
  pk.pack_map(2);
  pk.pack(std::string("name"));
  pk.pack(std::string("web"));
  pk.pack(std::string("tty"));
  pk.pack(1);
  CHECK(bad_arg_text(two.data) ==
        "invalid argument to container.create: field 'tty' must be a boolean");
}

TEST_CASE("a message larger than the limit is rejected while it is still arriving") {
  limits lim;
  lim.max_message = 1024;
  decoder dec(lim);
  auto bytes = encode_request(1, "big", point{0, std::string(4096, 'x')});
  CHECK_THROWS_AS(dec.feed(bytes.data(), bytes.size()), protocol_error);
  decoder dec2(lim);
  dec2.feed(bytes.data(), 1000);
  message m;
  CHECK_FALSE(dec2.next(m));
  CHECK_THROWS_AS(dec2.feed(bytes.data() + 1000, 100), protocol_error);
}

TEST_CASE("a complete message over the limit made of small elements is rejected while it arrives") {
  // 9 MiB of 64 KiB strings in one request, fed as a session reads it: 64 KiB at a time, with
  // next() after each read (msgpack parses and consumes each complete element at once).
  decoder dec;
  std::vector<std::string> parts(9 * 16, std::string(64 * 1024 - 8, 'x'));
  auto bytes = encode_request(1, "big", parts);
  REQUIRE(bytes.size() > (9u << 20) - 4096);
  std::size_t off = 0;
  message m;
  bool refused = false;
  try {
    for (; off < bytes.size(); off += 64 * 1024) {
      dec.feed(bytes.data() + off, std::min<std::size_t>(64 * 1024, bytes.size() - off));
      while (dec.next(m)) FAIL("a message over 8 MiB was decoded");
    }
  } catch (const protocol_error& e) {
    refused = true;
    CHECK(std::string(e.what()).find("exceeds") != std::string::npos);
  }
  CHECK(refused);
  CHECK(off <= (8u << 20));  // refused before the 9th MiB arrived

  // A message just under the limit still passes, split the same way.
  decoder ok;
  std::vector<std::string> fits(7 * 16, std::string(64 * 1024 - 8, 'x'));
  auto small = encode_request(2, "fits", fits);
  std::size_t got = 0;
  for (std::size_t o = 0; o < small.size(); o += 64 * 1024) {
    ok.feed(small.data() + o, std::min<std::size_t>(64 * 1024, small.size() - o));
    while (ok.next(m)) ++got;
  }
  CHECK(got == 1);
}

TEST_CASE("nesting deeper than the limit is rejected") {
  limits lim;
  lim.max_depth = 8;
  decoder dec(lim);
  std::string bytes;
  for (int i = 0; i < 50; ++i) bytes += array_header(1);
  bytes += '\x00';
  dec.feed(bytes.data(), bytes.size());
  message m;
  CHECK_THROWS_AS(dec.next(m), protocol_error);
}

TEST_CASE("an array header claiming more elements than the limit is rejected at once") {
  decoder dec;  // default: 65536 elements
  auto bytes = array_header(4) + std::string("\x00", 1) + std::string("\x01", 1) +
               std::string("\xa1m", 2) + array_header(0xffffffffu);
  dec.feed(bytes.data(), bytes.size());
  message m;
  CHECK_THROWS_AS(dec.next(m), protocol_error);
}

TEST_CASE("messages of the wrong shape are protocol errors") {
  auto reject = [](const std::string& bytes) {
    decoder dec;
    dec.feed(bytes.data(), bytes.size());
    message m;
    CHECK_THROWS_AS(dec.next(m), protocol_error);
  };
  SECTION("not an array") {
    reject(pack(42));
  }
  SECTION("unknown type") {
    reject(pack(std::make_tuple(3, 1, "m", std::vector<int>{})));
  }
  SECTION("method not a string") {
    reject(pack(std::make_tuple(0, 1, 5, std::vector<int>{})));
  }
  SECTION("empty method") {
    reject(pack(std::make_tuple(0, 1, "", std::vector<int>{})));
  }
  SECTION("params not an array") {
    reject(pack(std::make_tuple(0, 1, "m", 5)));
  }
  SECTION("id not a uint32") {
    reject(pack(std::make_tuple(0, -1, "m", std::vector<int>{})));
  }
  SECTION("id too large") {
    reject(pack(std::make_tuple(0, uint64_t{1} << 40, "m", std::vector<int>{})));
  }
  SECTION("request with three elements") {
    reject(pack(std::make_tuple(0, 1, "m")));
  }
  SECTION("notification with four elements") {
    reject(pack(std::make_tuple(2, "m", std::vector<int>{}, 1)));
  }
  SECTION("a byte msgpack never uses") {
    reject(std::string("\xc1", 1));
  }
}

TEST_CASE("params other than no argument or one map are refused as invalid_argument") {
  auto check = [](const std::string& bytes) {
    decoder dec;
    auto msgs = decode_all(dec, bytes);
    REQUIRE(msgs.size() == 1);
    try {
      check_params_shape(msgs[0]);
    } catch (const call_error& e) {
      CHECK(e.code() == errc::invalid_argument);
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  std::map<std::string, int> empty;
  CHECK(check(pack(std::make_tuple(0, 1, "system.ping", std::vector<int>{5}))) ==
        "invalid argument to system.ping: the argument must be a map");
  CHECK(
      check(pack(std::make_tuple(0, 1, "system.ping", std::make_tuple(msgpack::type::nil_t{})))) ==
      "invalid argument to system.ping: the argument must be a map");
  CHECK(check(pack(std::make_tuple(0, 1, "container.list", std::make_tuple(empty, empty)))) ==
        "invalid argument to container.list: params must be [] or [{...}], one map of named "
        "arguments, not 2 elements");
  CHECK(check(encode_request(1, "system.ping")) == "accepted");
  CHECK(check(encode_request(1, "container.list", empty)) == "accepted");
}

TEST_CASE("after reset a decoder forgets a partial message") {
  decoder dec;
  auto bytes = encode_request(1, "m", point{});
  dec.feed(bytes.data(), 3);
  dec.reset();
  CHECK(dec.buffered() == 0);
  auto msgs = decode_all(dec, bytes);
  CHECK(msgs.size() == 1);
}

TEST_CASE("raw packed arguments are embedded unchanged") {
  decoder dec;
  auto inner = pack(point{11, "raw"});
  auto msgs = decode_all(
      dec, encode_request(2, "m", packed_view{inner}) + encode_result(2, packed_view{inner}));
  REQUIRE(msgs.size() == 2);
  CHECK(arg<point>(msgs[0]).x == 11);
  CHECK(packed_arg(msgs[0]) == inner);
  CHECK(result_as<point>(msgs[1]).name == "raw");
  CHECK(unpack_as<point>(inner).x == 11);
}

TEST_CASE("a reset decoder keeps decoding large frames that grow its buffer") {
  // Regression: reset() once move-assigned msgpack's unpacker, which keeps references into
  // itself; the next buffer growth with referenced strings then wrote through a dangling pointer.
  decoder dec;
  auto partial = encode_request(1, "m", point{});
  dec.feed(partial.data(), 2);
  dec.reset();
  std::string payload(64 * 1024, 'p');
  std::vector<message> kept;
  for (int i = 0; i < 100; ++i) {
    auto bytes = encode_notification("output", point{i, payload});
    for (std::size_t off = 0; off < bytes.size(); off += 65536) {
      dec.feed(bytes.data() + off, std::min<std::size_t>(65536, bytes.size() - off));
      message m;
      while (dec.next(m)) kept.push_back(std::move(m));
    }
  }
  REQUIRE(kept.size() == 100);
  CHECK(arg<point>(kept.front()).name == payload);
  CHECK(arg<point>(kept.back()).x == 99);
}

TEST_CASE("a moved decoder keeps working") {
  decoder a;
  auto bytes = encode_request(1, "m", point{5, std::string(100000, 'q')});
  a.feed(bytes.data(), 1000);
  decoder b = std::move(a);
  b.feed(bytes.data() + 1000, bytes.size() - 1000);
  message m;
  REQUIRE(b.next(m));
  CHECK(arg<point>(m).x == 5);
}

TEST_CASE("the bytes of a request and its answer are those docs/protocol.md shows") {
  auto hex = [](const std::string& s) {
    std::string out;
    char buf[4];
    for (unsigned char c : s) {
      std::snprintf(buf, sizeof buf, "%02x ", c);
      out += buf;
    }
    return out;
  };
  CHECK(hex(encode_request(7, "system.ping")) ==
        "94 00 07 ab 73 79 73 74 65 6d 2e 70 69 6e 67 90 ");
  CHECK(hex(encode_result(7, std::map<std::string, int>{})) == "94 01 07 c0 80 ");
  // An error: [1, 3, {"code": 2, "message": "x"}, nil]
  CHECK(hex(encode_error(3, errc::not_found, "x")) ==
        "94 01 03 82 a4 63 6f 64 65 02 a7 6d 65 73 73 61 67 65 a1 78 c0 ");
}
