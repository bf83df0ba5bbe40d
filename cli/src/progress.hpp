// progress: pull and push progress as Docker shows it: a line per layer redrawn in place on a
// terminal, plain lines (one per status change) on a pipe.
#pragma once

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace berth::cli {

/// Shows the progress notifications of one pull or push.
class progress_view {
 public:
  /// Writes to `out`; shows nothing when `quiet`.
  explicit progress_view(bool quiet, FILE* out = stdout);
  /// Routes the client's progress notifications here.
  void install(rpc::client& c);
  /// Shows one notification.
  void update(const api::progress& p);

 private:
  using clock = std::chrono::steady_clock;
  struct item {
    api::progress p;
    clock::time_point since;  // when its transfer started
    uint64_t from = 0;        // bytes it had then (a resumed blob starts past 0)
  };
  static std::string line(const item& i);

  FILE* out_;
  bool tty_;
  bool quiet_;
  std::vector<item> items_;
  std::size_t drawn_ = 0;
};

}  // namespace berth::cli
