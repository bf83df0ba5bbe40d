// ps_filter: `berth ps --filter KEY=VALUE` with Docker's keys and rules, applied on the client to
// the answer of container.list. Several values of one key are alternatives (any may match),
// except label, whose filters must all match; different keys must all match. Keys: status, name
// (a substring), id (a prefix), ancestor (an image reference or id prefix), network, health
// (healthy, unhealthy, starting, none), exited (an exit code, of exited containers) and label
// (KEY: the container has the label; KEY=VALUE: with exactly that value).
#pragma once

#include "berth/rpc/api.hpp"

#include <map>
#include <string>
#include <vector>

namespace berth::cli {

/// The filters of one ps call.
class ps_filter {
 public:
  /// Reads the --filter values. Throws cli_error (exit code 1) with Docker's message for an
  /// item without "=" ("bad format of filter (expected name=value)"), an unknown key
  /// ("invalid filter 'foo'") or a bad value ("invalid filter 'status=foo'"; for label, one
  /// without a label name: "invalid filter 'label==x'").
  static ps_filter parse(const std::vector<std::string>& items);

  /// Whether stopped containers must be listed too: a status filter asks for them (as Docker).
  bool needs_all() const { return values_.count("status") != 0; }

  /// Whether `c` passes every filter.
  bool matches(const api::container_info& c) const;

 private:
  bool matches_one(const std::string& key, const std::string& value,
                   const api::container_info& c) const;
  std::map<std::string, std::vector<std::string>> values_;
};

}  // namespace berth::cli
