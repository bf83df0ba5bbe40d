// Tests of guest_wire, the checks on every byte a guest agent sends: messages with more objects
// than the bound are refused before msgpack builds them (however they are split), the largest
// answer a real agent sends still passes, and decode<T> turns every malformed value into an
// errc::protocol error instead of an exception.
#include "berth/vm/guest_wire.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace berth;
using namespace berth::vm;

namespace {

// A response [1, id, nil, result] whose result is `arrays` arrays of 65536 nils.
std::string response_of_nils(std::size_t arrays) {
  rpc::byte_buffer buf;
  msgpack::packer<rpc::byte_buffer> pk(buf);
  pk.pack_array(4);
  pk.pack_uint8(1);
  pk.pack_uint32(7);
  pk.pack_nil();
  pk.pack_array(static_cast<uint32_t>(arrays));
  for (std::size_t a = 0; a < arrays; ++a) {
    pk.pack_array(1u << 16);
    for (std::size_t i = 0; i < (1u << 16); ++i) pk.pack_nil();
  }
  return std::move(buf.data);
}

// The largest `list` answer berth-init sends: 65536 entries.
std::vector<agent::file_info> full_listing() {
  std::vector<agent::file_info> out(1u << 16);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i].path = "f" + std::to_string(i);
    out[i].type = "file";
    out[i].link = "";
  }
  return out;
}

}  // namespace

TEST_CASE("a guest message of 8 MiB of nils is refused before it is built") {
  auto frame = response_of_nils(127);
  REQUIRE(frame.size() > (8u << 20) - 128 * 1024);
  REQUIRE(frame.size() <= guest_limits::max_message);
  guest_reader reader;
  // In the pieces a socket delivers: the refusal comes once the bound is crossed, long before the
  // message is complete, and the decoder never saw more objects than the bound.
  caf::error err;
  std::size_t fed = 0;
  for (; fed < frame.size() && !err; fed += 64 * 1024) {
    err = reader.feed(frame.data() + fed, std::min<std::size_t>(64 * 1024, frame.size() - fed));
    if (!err) {
      rpc::message m;
      auto more = reader.next(m);
      REQUIRE(more);
      CHECK_FALSE(*more);
    }
  }
  REQUIRE(err);
  CHECK(code_of(err) == errc::protocol);
  CHECK_THAT(describe(err), Catch::Contains("msgpack objects"));
  CHECK(fed <= guest_limits::max_objects + 128 * 1024);
}

TEST_CASE("the largest list answer a real agent sends passes the guest bounds") {
  auto listing = full_listing();
  auto frame = rpc::encode_result(3, listing);
  REQUIRE(frame.size() <= guest_limits::max_message);
  guest_reader reader;
  REQUIRE_FALSE(reader.feed(frame.data(), frame.size()));
  rpc::message m;
  auto more = reader.next(m);
  REQUIRE(more);
  REQUIRE(*more);
  auto got = decode<std::vector<agent::file_info>>(rpc::pack(m.result));
  REQUIRE(got);
  CHECK(got->size() == listing.size());
  CHECK(got->back().path == "f65535");
}

TEST_CASE("the object count is the same however the bytes are split") {
  agent::vm_stats stats;
  stats.disks = {{"image", 1, 2}, {"rootfs", 3, 4}};
  auto bytes = rpc::encode_result(1, stats) +
               rpc::encode_notification("output", agent::output_chunk{"x", 1, {'a', 'b'}});
  for (std::size_t piece = 1; piece <= 7; ++piece) {
    object_counter counter(64);
    for (std::size_t off = 0; off < bytes.size(); off += piece)
      REQUIRE_FALSE(counter.feed(bytes.data() + off, std::min(piece, bytes.size() - off)));
    CHECK(counter.complete() == 2);
    CHECK(counter.current() == 0);
  }
  object_counter small(10);
  CHECK(small.feed(bytes.data(), bytes.size()));
}

TEST_CASE("decode turns every malformed guest value into a protocol error") {
  std::string deep(40, '\x91');
  deep += '\xc0';
  SECTION("a value of the wrong type") {
    auto got = decode<agent::vm_stats>(rpc::pack(std::string("x")));
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == errc::protocol);
  }
  SECTION("a field of the wrong type") {
    std::map<std::string, std::string> m{{"cpu_ns", "lots"}};
    auto got = decode<agent::vm_stats>(rpc::pack(m));
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == errc::protocol);
  }
  SECTION("a number out of its field's range") {
    std::map<std::string, int64_t> m{{"fd", 300}};
    auto got = decode<agent::output_chunk>(rpc::pack(m));
    REQUIRE_FALSE(got);
    CHECK(code_of(got.error()) == errc::protocol);
  }
  SECTION("output for a file descriptor other than 1 and 2") {
    auto got = decode<agent::output_chunk>(rpc::pack(agent::output_chunk{"x", 0, {'a'}}));
    REQUIRE_FALSE(got);
    CHECK_THAT(describe(got.error()), Catch::Contains("fd 0"));
  }
  SECTION("stats of too many devices") {
    agent::vm_stats stats;
    stats.networks.resize(guest_limits::max_stat_devices + 1);
    CHECK_FALSE(decode<agent::vm_stats>(rpc::pack(stats)));
  }
  SECTION("a truncated value, trailing bytes, nesting too deep and a byte msgpack never uses") {
    for (std::string bad : {std::string("\x82\xa3pid", 5), std::string("\x80\xc0", 2), deep,
                            std::string("\xc1", 1), std::string()}) {
      auto got = decode<agent::exit_status>(bad);
      REQUIRE_FALSE(got);
      CHECK(code_of(got.error()) == errc::protocol);
    }
  }
  SECTION("a well-formed value passes") {
    auto got = decode<agent::exit_status>(rpc::pack(agent::exit_status{"main", 3, 0}));
    REQUIRE(got);
    CHECK(got->exit_code == 3);
  }
}

TEST_CASE("guest strings are cut and escaped before they reach a log line") {
  CHECK(guest_text("berth-init 1.0") == "berth-init 1.0");
  CHECK(guest_text("a\nfake line\x1b[2J") == "a\\x0afake line\\x1b[2J");
  CHECK(guest_text(std::string(1000, 'x'), 10) == std::string(10, 'x') + "...");
}
