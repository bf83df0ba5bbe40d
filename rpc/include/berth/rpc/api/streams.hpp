// api/streams: stream.* payloads: what flows on a stream a call opened, and stdin and resizing on
// it.
//
// Part of the berthd wire (rpc/api.hpp includes every part); docs/protocol.md is the reference.
#pragma once

#include "berth/rpc/api/common.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace berth::api {

/// Result of calls that open a stream of notifications.
struct stream {
  uint32_t stream_id = 0;
  BERTH_FIELDS(stream, stream_id);
};

/// One piece of a stream: bytes of stdout (1) or stderr (2).
struct stream_data {
  uint32_t stream_id = 0;
  uint8_t fd = 1;
  int64_t time = 0;  ///< Unix time in nanoseconds when the bytes were written, if known.
  std::vector<char> data;
  BERTH_FIELDS(stream_data, stream_id, fd, time, data);
};

/// The last notification of a stream.
struct stream_end {
  uint32_t stream_id = 0;
  bool has_exit_code = false;  ///< Exec streams end with their process's exit code.
  int32_t exit_code = 0;
  std::string error;  ///< Set when the stream ended because something failed.
  BERTH_FIELDS(stream_end, stream_id, has_exit_code, exit_code, error);
};

/// Argument of stream.stdin: bytes for the stream's process, answered once written in the guest.
struct stdin_request {
  uint32_t stream_id = 0;
  std::vector<char> data;  ///< At most 1 MiB.
  BERTH_FIELDS(stdin_request, stream_id, data);
};

/// Argument of stream.resize.
struct resize_request {
  uint32_t stream_id = 0;
  uint16_t rows = 24;
  uint16_t cols = 80;
  BERTH_FIELDS(resize_request, stream_id, rows, cols);
};

}  // namespace berth::api
