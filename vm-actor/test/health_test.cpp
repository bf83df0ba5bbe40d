// Tests for Docker's health check rules: merging, checking, the command, and what results do.
#include "berth/vm/health.hpp"

#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

using namespace berth;
using namespace berth::vm;

namespace {

constexpr int64_t s = 1'000'000'000;

api::health_result result(int64_t start, int32_t exit_code, std::string output = {}) {
  return api::health_result{start, start + s / 10, exit_code, std::move(output)};
}

api::health_state starting() {
  api::health_state h;
  h.status = health::starting;
  return h;
}

health_timing timing(int32_t retries, int64_t start_period = 0) {
  health_timing t;
  t.retries = retries;
  t.start_period = std::chrono::nanoseconds(start_period);
  return t;
}

}  // namespace

TEST_CASE("the command of a check is sh -c for CMD-SHELL and the arguments for CMD") {
  CHECK(health_command({{"CMD-SHELL", "test -f /tmp/ok"}}) ==
        std::vector<std::string>{"/bin/sh", "-c", "test -f /tmp/ok"});
  CHECK(health_command({{"CMD", "curl", "-f", "localhost"}}) ==
        std::vector<std::string>{"curl", "-f", "localhost"});
  CHECK(health_command({{"NONE"}}).empty());
  CHECK(health_command({}).empty());
  CHECK(health_command({{"CMD"}}).empty());
  CHECK(health_command({{"SHELL", "true"}}).empty());
}

TEST_CASE("zero fields take the defaults of 30 s, 30 s, no start period and 3 retries") {
  auto t = timing_of({});
  CHECK(t.interval == std::chrono::seconds(30));
  CHECK(t.timeout == std::chrono::seconds(30));
  CHECK(t.start_period == std::chrono::nanoseconds(0));
  CHECK(t.retries == 3);
  auto given = timing_of({{"CMD", "true"}, 1 * s, 2 * s, 3 * s, 4});
  CHECK(given.interval == std::chrono::seconds(1));
  CHECK(given.timeout == std::chrono::seconds(2));
  CHECK(given.start_period == std::chrono::seconds(3));
  CHECK(given.retries == 4);
}

TEST_CASE("flags override the image's check field by field and NONE turns it off") {
  api::healthcheck image{{"CMD", "/check"}, 10 * s, 5 * s, 60 * s, 7};
  auto same = merge_healthcheck(image, {});
  CHECK(same.test == image.test);
  CHECK(same.interval == 10 * s);
  CHECK(same.retries == 7);
  auto merged = merge_healthcheck(image, {{}, 1 * s, 0, 0, 2});
  CHECK(merged.test == image.test);
  CHECK(merged.interval == 1 * s);
  CHECK(merged.timeout == 5 * s);
  CHECK(merged.start_period == 60 * s);
  CHECK(merged.retries == 2);
  auto off = merge_healthcheck(image, {{"NONE"}});
  CHECK(health_command(off).empty());
}

TEST_CASE("a client's check is refused for negative or sub-millisecond values and unknown tests") {
  CHECK(!check_healthcheck({}));
  CHECK(!check_healthcheck({{"NONE"}}));
  CHECK(!check_healthcheck({{"CMD-SHELL", "true"}, 1'000'000, 1'000'000, 0, 1}));
  CHECK(code_of(check_healthcheck({{}, -1})) == errc::invalid_argument);
  CHECK(code_of(check_healthcheck({{}, 0, 999'999})) == errc::invalid_argument);
  CHECK(code_of(check_healthcheck({{}, 0, 0, -s})) == errc::invalid_argument);
  CHECK(code_of(check_healthcheck({{}, 0, 0, 0, -1})) == errc::invalid_argument);
  CHECK(code_of(check_healthcheck({{"CMD"}})) == errc::invalid_argument);
  CHECK(code_of(check_healthcheck({{"BOGUS", "x"}})) == errc::invalid_argument);
}

TEST_CASE("a success makes a container healthy and retries failures in a row unhealthy") {
  auto h = starting();
  auto t = timing(2);
  CHECK(apply_health_result(h, result(1 * s, 0), t, 0));
  CHECK(h.status == "healthy");
  CHECK_FALSE(apply_health_result(h, result(2 * s, 1), t, 0));
  CHECK(h.status == "healthy");  // one failure of two allowed
  CHECK(h.failing_streak == 1);
  CHECK(apply_health_result(h, result(3 * s, 1), t, 0));
  CHECK(h.status == "unhealthy");
  CHECK(h.failing_streak == 2);
  CHECK(apply_health_result(h, result(4 * s, 0), t, 0));
  CHECK(h.status == "healthy");
  CHECK(h.failing_streak == 0);
}

TEST_CASE("failures within the start period do not count while the container is starting") {
  auto h = starting();
  auto t = timing(1, 10 * s);
  CHECK_FALSE(apply_health_result(h, result(5 * s, 1), t, 0));
  CHECK(h.status == "starting");
  CHECK(h.failing_streak == 0);
  CHECK(h.log.size() == 1);  // logged all the same
  CHECK(apply_health_result(h, result(11 * s, 1), t, 0));
  CHECK(h.status == "unhealthy");
  // Once healthy, the start period no longer shields a failure.
  auto up = starting();
  apply_health_result(up, result(1 * s, 0), t, 0);
  CHECK(apply_health_result(up, result(2 * s, 1), t, 0));
  CHECK(up.status == "unhealthy");
}

TEST_CASE("the health log keeps the last five results, oldest first") {
  auto h = starting();
  for (int i = 0; i < 8; ++i)
    apply_health_result(h, result(i * s, i % 2, std::to_string(i)), timing(100), 0);
  REQUIRE(h.log.size() == health_log_entries);
  CHECK(h.log.front().output == "3");
  CHECK(h.log.back().output == "7");
  CHECK(h.log.back().exit_code == 1);
}

TEST_CASE("a check's output keeps its last 4 KiB") {
  std::string out;
  std::string a(3000, 'a'), b(3000, 'b');
  append_health_output(out, a.data(), a.size());
  CHECK(out.size() == 3000);
  append_health_output(out, b.data(), b.size());
  REQUIRE(out.size() == health_output_bytes);
  CHECK(out.back() == 'b');
  CHECK(out.front() == 'a');
  CHECK(out.substr(out.size() - 3000) == b);
  std::string big(10000, 'c');
  big.back() = 'z';
  append_health_output(out, big.data(), big.size());
  CHECK(out.size() == health_output_bytes);
  CHECK(out.find('b') == std::string::npos);
  CHECK(out.back() == 'z');
}

TEST_CASE("timeouts are written the way Go writes durations") {
  CHECK(go_duration(std::chrono::seconds(30)) == "30s");
  CHECK(go_duration(std::chrono::milliseconds(1500)) == "1.5s");
  CHECK(go_duration(std::chrono::milliseconds(250)) == "250ms");
}

TEST_CASE("a container record stored before health checks existed still reads") {
  // Records are msgpack maps: an old row lacks the new keys, which must keep their defaults.
  container_record rec;
  rec.id = std::string(64, 'a');
  rec.name = "old";
  rec.healthcheck.test = {"CMD", "x"};
  rec.health.status = "healthy";
  auto packed = rpc::pack(rec);
  auto handle = msgpack::unpack(packed.data(), packed.size());
  auto map = handle.get().as<std::map<std::string, msgpack::object>>();
  REQUIRE(map.erase("healthcheck") == 1);
  REQUIRE(map.erase("health") == 1);
  msgpack::sbuffer old;
  msgpack::pack(old, map);
  auto back = rpc::unpack_as<container_record>(std::string_view(old.data(), old.size()));
  CHECK(back.name == "old");
  CHECK(back.healthcheck.test.empty());
  CHECK(back.health.status.empty());
}
