// container_log: a container's output log on disk (DATA/containers/<id>/container.log and its
// rotated files container.log.1 ... container.log.<max-file - 1>, .1 the newest), how it is
// written and rotated, and the reads `logs` needs; and the cap on the VM's console log beside it.
//
// Each record is one msgpack array [time_ns, fd, seq, bytes, size] appended as output arrives,
// where seq numbers the first of its bytes in the container's output (agent::output_chunk's seq,
// continued across VM runs: the last record tells where the log ends, so output a new host gets
// again is kept once) and size (always 0xce and four bytes) is the record's own length. Every
// file starts with a record of fd 255 and no bytes that says it is in this format and carries
// the seq where it starts. (Records of the first sized format, [time_ns, fd, bytes, size], read
// as seq 0.) A reader walks such a file back
// from its end, record by record, without reading the rest, so `logs -n N` reads and holds about
// the N lines it prints. Files of older berthd ([time_ns, fd, bytes], no size, no first record)
// are read forward instead, so nothing the guest printed into them can pass for a record; a torn
// or malformed record ends its file. One case stays: berthd killed in the middle of a write
// leaves a torn end, and if the guest's output just before the tear looks like a record, a walk
// back reads it as one (a forward read, `logs` without -n, is not fooled); the torn file itself
// is only appended to when its end reads as whole.
//
// The guest decides what it prints, so every bound here holds whatever it prints: a record holds
// at most 64 KiB of output (and never more than fits in an empty file), a file is rotated before
// a record would take it over max-size, and max-file files are kept: the log never holds more
// than max-size * max-file bytes.
#pragma once

#include "berth/os/fd.hpp"
#include "berth/rpc/api/log_options.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <system_error>
#include <vector>

namespace berth::vm {

/// One piece of output.
struct log_record {
  int64_t time = 0;
  uint8_t fd = 1;
  std::vector<char> data;
  uint64_t seq = 0;  ///< The number of data's first byte in the container's output.
};

/// Bytes of output one record holds at most; longer output is split into several.
inline constexpr std::size_t log_record_data_max = 64 * 1024;

/// Bytes a record adds to its output.
inline constexpr std::size_t log_record_overhead = 31;

/// The record every log file of this format starts with (fd 255, no bytes, the seq the file
/// starts at); never shown.
std::string log_file_header(uint64_t seq = 0);

/// The encoded form of a record, for appending.
std::string encode_log_record(int64_t time, uint8_t fd, const char* data, std::size_t size,
                              uint64_t seq = 0);

/// The records of `bytes` (a log's content), stopping at the first torn or malformed one.
std::vector<log_record> decode_log(const std::string& bytes);

/// Log file number `n` of a container: container.log for 0, else container.log.<n>.
std::filesystem::path log_file(const std::filesystem::path& dir, uint32_t n);

/// Appends a container's output to its container.log and rotates its files.
class log_writer {
 public:
  /// Opens dir/container.log for appending, creating it. A file that is not of this format
  /// (written by an older berthd) or does not end with a whole record (torn by a crash) is
  /// rotated first, so records are only ever appended after whole ones. False (errno set) when
  /// it cannot.
  bool open(const std::filesystem::path& dir, api::log_config config);

  /// Closes the file.
  void reset();

  /// Appends `size` bytes of output as records of at most log_record_data_max bytes, rotating
  /// the files whenever the next record would take container.log over max-size. A failed write
  /// is cut off again, so the file still ends with a whole record; its error is returned. The
  /// first byte is numbered `seq` (by default the next after the log's end).
  std::error_code append(int64_t time, uint8_t fd, const char* data, std::size_t size);
  std::error_code append(int64_t time, uint8_t fd, const char* data, std::size_t size,
                         uint64_t seq);

  /// Bytes in container.log now.
  uint64_t size() const { return size_; }

  /// The seq after the log's last output byte: where the next output continues (0 for a new
  /// log). Read from the files by open().
  uint64_t seq_end() const { return seq_end_; }

  explicit operator bool() const { return static_cast<bool>(fd_); }

 private:
  std::error_code rotate();
  void start_file();
  std::filesystem::path dir_;
  api::log_config config_;
  os::unique_fd fd_;
  uint64_t size_ = 0;
  uint64_t seq_end_ = 0;
};

/// A container's log files as they were at one moment: open, so that a rotation afterwards does
/// not move them under the reader.
struct log_files {
  /// Oldest first (container.log.<max-file - 1> ... container.log), each with the bytes of it
  /// to read.
  std::vector<std::pair<os::unique_fd, uint64_t>> files;
  /// Bytes read from them so far (what a reader cost).
  mutable uint64_t bytes_read = 0;
};

/// Opens the log files of `dir` that exist, of `max_file` files; of container.log, at most
/// `limit` bytes (the part written before a follower subscribed).
log_files open_log_files(const std::filesystem::path& dir, uint32_t max_file,
                         uint64_t limit = UINT64_MAX);

/// Calls `emit` with every record of `logs`, oldest first, reading in blocks.
void for_each_log_record(const log_files& logs, const std::function<void(log_record&&)>& emit);

/// The last `lines` lines of `logs` (as tail_lines splits them), read back from the newest
/// record until they are found: it reads and holds about those lines, and one record more.
std::vector<log_record> tail_log(const log_files& logs, int64_t lines);

/// The last `lines` lines of `records`, split at newlines, each piece keeping its record's fd and
/// time (a piece without a newline continues with the next record of the same stream); a
/// negative count keeps everything.
std::vector<log_record> tail_lines(const std::vector<log_record>& records, int64_t lines);

/// Bytes of the VM's console log after which it is cut (on the vm actor's heartbeat).
inline constexpr uint64_t console_max_bytes = 1u << 20;

/// Caps the VM's console log: once `console` holds more than `max` bytes, its last `max` bytes
/// become `console`.1 and `console` is emptied in place. QEMU writes it with O_APPEND, so it
/// goes on writing at the new end; a rename would leave QEMU writing into the renamed file.
/// Output QEMU writes between the copy and the truncation is lost. Whether it cut.
bool cap_console(const std::filesystem::path& console, uint64_t max);

/// Calls `emit` with the console log of `dir` (console.log.1, then console.log), in pieces of
/// at most 64 KiB.
void for_each_console_piece(const std::filesystem::path& dir,
                            const std::function<void(std::vector<char>&&)>& emit);

}  // namespace berth::vm
