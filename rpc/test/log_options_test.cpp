// Tests for the --log-opt parser the CLI and berthd share: Docker's max-size and max-file, in
// Docker's units, with every bad value refused with a reason.
#include "berth/rpc/api/log_options.hpp"

#include <catch2/catch.hpp>

using namespace berth::api;

namespace {

std::optional<log_config> parse(std::map<std::string, std::string> opts) {
  std::string why;
  auto config = parse_log_options(opts, why);
  if (config) CHECK(why.empty());
  return config;
}

}  // namespace

TEST_CASE("log options default to a bounded log when none are given") {
  auto config = parse({});
  REQUIRE(config);
  CHECK(config->max_size == default_log_max_size);
  CHECK(config->max_file == default_log_max_file);
  CHECK(default_log_max_size * default_log_max_file <= 100'000'000);
  auto older = effective_log_config({});
  CHECK(older.max_size == default_log_max_size);
  CHECK(older.max_file == default_log_max_file);
}

TEST_CASE("max-size reads Docker's decimal units with an optional b") {
  CHECK(parse({{"max-size", "10m"}})->max_size == 10'000'000);
  CHECK(parse({{"max-size", "10M"}})->max_size == 10'000'000);
  CHECK(parse({{"max-size", "10mb"}})->max_size == 10'000'000);
  CHECK(parse({{"max-size", "64k"}})->max_size == 64'000);
  CHECK(parse({{"max-size", "1g"}})->max_size == 1'000'000'000);
  CHECK(parse({{"max-size", "1.5m"}})->max_size == 1'500'000);
  CHECK(parse({{"max-size", "4096"}})->max_size == 4096);
  auto both = parse({{"max-size", "2m"}, {"max-file", "5"}});
  REQUIRE(both);
  CHECK(both->max_size == 2'000'000);
  CHECK(both->max_file == 5);
}

TEST_CASE("bad log options are refused with the option and the reason") {
  for (auto bad : {"", "m", "-1m", "10x", "10 m", "1.m", "0", "999", "1001g",
                   "99999999999999999999", "10mm", "1e6"}) {
    std::string why;
    CHECK_FALSE(parse_log_options({{"max-size", bad}}, why));
    CHECK(why.find("max-size") != std::string::npos);
  }
  for (auto bad : {"", "0", "101", "-1", "x", "2.5", "1000000000000"}) {
    std::string why;
    CHECK_FALSE(parse_log_options({{"max-file", bad}}, why));
    CHECK(why.find("max-file") != std::string::npos);
  }
  std::string why;
  CHECK_FALSE(parse_log_options({{"compress", "true"}}, why));
  CHECK(why == "unknown log option \"compress\": berth's log takes max-size and max-file");
}

TEST_CASE("log sizes are spelled in the largest unit that divides them") {
  CHECK(format_log_size(20'000'000) == "20m");
  CHECK(format_log_size(64'000) == "64k");
  CHECK(format_log_size(1'000'000'000) == "1g");
  CHECK(format_log_size(1500) == "1500");
  CHECK(format_log_size(1'500'000) == "1500k");
  std::string why;
  CHECK(parse_log_options({{"max-size", format_log_size(1'500'000)}}, why)->max_size == 1'500'000);
}
