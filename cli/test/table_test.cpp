// Tests for the table layout of list commands: columns sized to their content as Docker's.
#include "table.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace berth::cli;

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

}  // namespace

TEST_CASE("each column is as wide as its widest cell plus three spaces") {
  auto out = format_table({{"CONTAINER ID", "CREATED", "STATUS", "NAMES"},
                           {"4f3c2b1a0000", "About a minute ago", "Up About a minute", "web"},
                           {"9a8b7c6d0000", "5 seconds ago", "Exited (0) 2 seconds ago", "db"}});
  auto lines = lines_of(out);
  REQUIRE(lines.size() == 3);
  CHECK(lines[0] == "CONTAINER ID   CREATED              STATUS                     NAMES");
  CHECK(lines[1] == "4f3c2b1a0000   About a minute ago   Up About a minute          web");
  CHECK(lines[2] == "9a8b7c6d0000   5 seconds ago        Exited (0) 2 seconds ago   db");
}

TEST_CASE("a long value never runs into the next column") {
  std::string long_status = "Up About an hour (health: starting)";
  auto lines = lines_of(
      format_table({{"CREATED", "STATUS", "NAMES"}, {"About a minute ago", long_status, "x"}}));
  REQUIRE(lines.size() == 2);
  auto status_at = lines[0].find("STATUS");
  CHECK(lines[1].substr(status_at, long_status.size()) == long_status);
  CHECK(lines[1].substr(status_at - 3, 3) == "   ");
  CHECK(lines[1].substr(status_at + long_status.size(), 3) == "   ");
}

TEST_CASE("narrow columns are at least ten characters wide and the last is not padded") {
  auto lines = lines_of(format_table({{"A", "B"}, {"x", "y"}}));
  CHECK(lines[0] == "A         B");
  CHECK(lines[1] == "x         y");
}

TEST_CASE("widths count characters, not bytes, so an ellipsis is one") {
  CHECK(text_width("\"sleep 10…\"") == 11);
  auto lines = lines_of(format_table({{"COMMAND", "X"}, {"\"abcdefghij…\"", "y"}}));
  CHECK(lines[0] == "COMMAND         X");
  CHECK(lines[1] == "\"abcdefghij…\"   y");
}

TEST_CASE("a header alone is a table") {
  CHECK(format_table({{"NAME", "SIZE"}}) == "NAME      SIZE\n");
}
