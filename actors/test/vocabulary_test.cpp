// Tests for the error vocabulary: berth's classes survive a trip through caf::error, and CAF's
// own errors map to the classes the RPC layer reports.
#include "berth/actors/vocabulary.hpp"

#include <caf/sec.hpp>
#include <catch2/catch.hpp>

using namespace berth;

TEST_CASE("a berth error keeps its class and text through caf::error") {
  caf::error err = make_error(errc::not_found, "no such image: busybox");
  CHECK(code_of(err) == errc::not_found);
  CHECK(describe(err) == "no such image: busybox");
}

TEST_CASE("no error has class none and no text") {
  CHECK(code_of(caf::error{}) == errc::none);
  CHECK(describe(caf::error{}).empty());
}

TEST_CASE("CAF's request timeout reads as a berth timeout") {
  caf::error err = caf::make_error(caf::sec::request_timeout);
  CHECK(code_of(err) == errc::timeout);
  CHECK_FALSE(describe(err).empty());
}
