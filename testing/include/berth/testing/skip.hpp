// skip: how a Catch2 case says it could not run on this host.
//
// Catch2 2.x has no skip. A case that lacks what it needs (root, a tool, a kernel feature) calls
// BERTH_SKIP, which prints a `berth-skip:` line and ends the case; every test registered through
// berth_add_test has ctest's SKIP_REGULAR_EXPRESSION set to that marker, so ctest reports the case
// as skipped, with the reason in its output, instead of counting it as passed.
#pragma once

#include <catch2/catch.hpp>

#include <iostream>

/// Ends the current test case as skipped on this host, for `reason` (a stream expression).
#define BERTH_SKIP(reason)                              \
  do {                                                  \
    std::cout << "berth-skip: " << reason << std::endl; \
    WARN("skipped: " << reason);                        \
    return;                                             \
  } while (false)
