// container_log: the format of DATA/containers/<id>/container.log and the reads `logs` needs.
//
// Each record is one msgpack array [time_ns, fd, bytes] appended as output arrives; a torn last
// record (a crash mid-write) ends the readable log. The file is rotated at a size limit: the
// previous file is kept as container.log.1, so a log holds between one and two limits of output.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace berth::vm {

/// One piece of output.
struct log_record {
  int64_t time = 0;
  uint8_t fd = 1;
  std::vector<char> data;
};

/// Bytes of container.log after which it rotates.
inline constexpr uint64_t log_rotate_bytes = 16u << 20;

/// The encoded form of a record, for appending.
std::string encode_log_record(int64_t time, uint8_t fd, const std::vector<char>& data);

/// The records of `bytes` (a log's content), stopping at the first torn or malformed one.
std::vector<log_record> decode_log(const std::string& bytes);

/// The records of a container's log files (container.log.1 then container.log), up to `limit`
/// bytes of container.log (the part written before a follower subscribed).
std::vector<log_record> read_log(const std::filesystem::path& dir, uint64_t limit);

/// The last `lines` lines of `records`, split at newlines, each piece keeping its record's fd and
/// time; a negative count keeps everything.
std::vector<log_record> tail_lines(const std::vector<log_record>& records, int64_t lines);

}  // namespace berth::vm
