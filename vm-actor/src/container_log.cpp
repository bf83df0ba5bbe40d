// container_log.cpp: encoding, writing, rotating, reading and tailing container logs; capping
// the console log.
#include "container_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <optional>

namespace berth::vm {

namespace fs = std::filesystem;

namespace {

using byte = unsigned char;

// Bytes of output a record of an older berthd held at most (its decoder's limit).
constexpr std::size_t old_record_data_max = 8u << 20;
// The longest start of a record: the array, a 9-byte time, a 9-byte fd, a 9-byte seq, a 5-byte
// bin header.
constexpr std::size_t header_max = 1 + 9 + 9 + 9 + 5;
// The size that ends a record of this format: 0xce and four bytes.
constexpr std::size_t trailer_size = 5;
// The shortest sized record: the array, two one-byte integers, an empty bin, its size.
constexpr std::size_t record_min = 1 + 1 + 1 + 2 + trailer_size;
// Bytes read from a file at once.
constexpr std::size_t block_size = 64 * 1024;
// The fd of the record a file of this format starts with.
constexpr uint8_t header_fd = 255;

void put_be(std::string& out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t get_be(const byte* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return v;
}

// What the start of a record says.
struct head {
  int64_t time = 0;
  uint8_t fd = 1;
  uint64_t seq = 0;
  std::size_t header = 0;  // bytes before the output
  std::size_t data = 0;    // bytes of output
  bool sized = false;      // ends with its own size (this format), else an older berthd's record
  std::size_t total() const { return header + data + (sized ? trailer_size : 0); }
};

enum class parse { ok, truncated, bad };

// A msgpack integer at `p`, before `end`.
parse read_int(const byte*& p, const byte* end, int64_t& v) {
  if (p >= end) return parse::truncated;
  byte b = *p;
  if (b <= 0x7f || b >= 0xe0) {
    v = static_cast<int8_t>(b);
    if (b <= 0x7f) v = b;
    ++p;
    return parse::ok;
  }
  int n = 0;
  bool is_signed = b >= 0xd0;
  switch (b) {
    case 0xcc:
    case 0xd0:
      n = 1;
      break;
    case 0xcd:
    case 0xd1:
      n = 2;
      break;
    case 0xce:
    case 0xd2:
      n = 4;
      break;
    case 0xcf:
    case 0xd3:
      n = 8;
      break;
    default:
      return parse::bad;
  }
  if (end - p < 1 + n) return parse::truncated;
  uint64_t u = get_be(p + 1, n);
  if (is_signed) {
    if (n < 8 && ((u >> (8 * n - 1)) & 1)) u |= ~uint64_t{0} << (8 * n);
  } else if (u > static_cast<uint64_t>(INT64_MAX)) {
    return parse::bad;
  }
  v = static_cast<int64_t>(u);
  p += 1 + n;
  return parse::ok;
}

// The start of the record at `p`, of which `avail` bytes are there.
parse read_head(const byte* p, std::size_t avail, head& h) {
  const byte* start = p;
  const byte* end = p + avail;
  if (p >= end) return parse::truncated;
  if (*p < 0x93 || *p > 0x95) return parse::bad;
  h.sized = *p != 0x93;
  bool numbered = *p++ == 0x95;
  int64_t fd = 0;
  if (auto r = read_int(p, end, h.time); r != parse::ok) return r;
  if (auto r = read_int(p, end, fd); r != parse::ok) return r;
  if (fd < 0 || fd > 255) return parse::bad;
  h.fd = static_cast<uint8_t>(fd);
  if (numbered) {
    int64_t seq = 0;
    if (auto r = read_int(p, end, seq); r != parse::ok) return r;
    if (seq < 0) return parse::bad;
    h.seq = static_cast<uint64_t>(seq);
  }
  if (p >= end) return parse::truncated;
  int n = *p == 0xc4 ? 1 : *p == 0xc5 ? 2 : *p == 0xc6 ? 4 : 0;
  if (n == 0) return parse::bad;
  if (end - p < 1 + n) return parse::truncated;
  h.data = get_be(p + 1, n);
  p += 1 + n;
  if (h.data > (h.sized ? log_record_data_max : old_record_data_max)) return parse::bad;
  h.header = static_cast<std::size_t>(p - start);
  return parse::ok;
}

// Whether the whole record at `p` (h.total() bytes) ends as its start says.
bool ends_well(const byte* p, const head& h) {
  if (!h.sized) return true;
  auto t = p + h.header + h.data;
  return t[0] == 0xce && get_be(t + 1, 4) == h.total();
}

log_record record_of(const head& h, const byte* p) {
  auto data = reinterpret_cast<const char*>(p) + h.header;
  return log_record{h.time, h.fd, std::vector<char>(data, data + h.data), h.seq};
}

// Whether a record is a file's header, which is never shown.
bool is_header(const head& h) {
  return h.fd == header_fd && h.data == 0;
}

// A file's bytes [0, end) through one buffer, a block at a time: forward (the block starts where
// asked) for a walk from the start, backward (the block ends where asked) for one from the end.
class file_reader {
 public:
  file_reader(int fd, uint64_t end, bool backward, uint64_t& bytes_read)
      : fd_(fd), end_(end), backward_(backward), bytes_read_(bytes_read) {}

  // Bytes [pos, pos + n), or nullptr when the file (up to end) does not have them all.
  const byte* at(uint64_t pos, std::size_t n) {
    if (n > end_ || pos > end_ - n) return nullptr;
    if (pos >= off_ && pos + n <= off_ + buf_.size()) return ptr(pos);
    uint64_t want = std::max<uint64_t>(n, block_size);
    uint64_t from = pos;
    if (backward_) from = pos + n > want ? pos + n - want : 0;
    want = std::min<uint64_t>(want, end_ - from);
    // Forward, the bytes from pos that are here already stay.
    std::size_t kept = 0;
    if (!backward_ && pos >= off_ && pos < off_ + buf_.size()) {
      kept = static_cast<std::size_t>(off_ + buf_.size() - pos);
      std::memmove(buf_.data(), buf_.data() + (pos - off_), kept);
    }
    buf_.resize(static_cast<std::size_t>(want));
    std::size_t got = kept;
    while (got < buf_.size()) {
      auto r = ::pread(fd_, buf_.data() + got, buf_.size() - got, static_cast<off_t>(from + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;  // an error, or the file shrank: what was read is all there is
      got += static_cast<std::size_t>(r);
      bytes_read_ += static_cast<uint64_t>(r);
    }
    buf_.resize(got);
    off_ = from;
    if (pos + n > off_ + got) return nullptr;
    return ptr(pos);
  }

 private:
  const byte* ptr(uint64_t pos) const {
    return reinterpret_cast<const byte*>(buf_.data()) + (pos - off_);
  }
  int fd_;
  uint64_t end_;
  bool backward_;
  uint64_t& bytes_read_;
  std::vector<char> buf_;
  uint64_t off_ = 0;  // where buf_ starts in the file
};

// Walks the whole records of [begin, end) of `fd` in order, calling visit(offset, head, bytes)
// for each; returns where it stopped: `end`, or the start of a torn or malformed record.
template <class Visit>
uint64_t walk_forward(int fd, uint64_t begin, uint64_t end, uint64_t& bytes_read, Visit&& visit) {
  file_reader in(fd, end, false, bytes_read);
  uint64_t pos = begin;
  while (pos < end) {
    auto avail = static_cast<std::size_t>(std::min<uint64_t>(header_max, end - pos));
    auto p = in.at(pos, avail);
    head h;
    if (!p || read_head(p, avail, h) != parse::ok || h.total() > end - pos) break;
    p = in.at(pos, h.total());
    if (!p || !ends_well(p, h)) break;
    visit(pos, h, p);
    pos += h.total();
  }
  return pos;
}

// Whether the file `fd` (of `size` bytes) starts with the header of a sized format.
bool has_header(int fd, uint64_t size, uint64_t& bytes_read) {
  // A header is written in one fixed encoding: its bytes are all that is read.
  byte first[log_record_overhead];
  auto want = static_cast<std::size_t>(std::min<uint64_t>(size, sizeof first));
  auto n = ::pread(fd, first, want, 0);
  if (n <= 0) return false;
  bytes_read += static_cast<uint64_t>(n);
  head h;
  auto got = static_cast<std::size_t>(n);
  return read_head(first, got, h) == parse::ok && h.sized && is_header(h) && h.total() <= got &&
         ends_well(first, h);
}

// The record of this format that ends at `end`, if one does.
std::optional<std::pair<head, const byte*>> record_ending_at(file_reader& in, uint64_t end) {
  if (end < record_min) return std::nullopt;
  auto t = in.at(end - trailer_size, trailer_size);
  if (!t || t[0] != 0xce) return std::nullopt;
  auto total = get_be(t + 1, 4);
  if (total < record_min || total > end || total > header_max + log_record_data_max + trailer_size)
    return std::nullopt;
  auto p = in.at(end - total, static_cast<std::size_t>(total));
  head h;
  if (!p || read_head(p, static_cast<std::size_t>(total), h) != parse::ok || !h.sized ||
      h.total() != total || !ends_well(p, h))
    return std::nullopt;
  return std::make_pair(h, p);
}

// The records of one file from the newest back. Each is found from the size that ends it; where
// that fails (records of an older berthd, a torn end) the rest of the file is walked forward
// once to mark where every 64 KiB of records starts, and read back a stretch at a time.
class reverse_records {
 public:
  reverse_records(int fd, uint64_t end, uint64_t& bytes_read)
      : fd_(fd), end_(end), bytes_read_(bytes_read), in_(fd, end, true, bytes_read) {
    // Only a file of this format, which its first record says, is walked back from its end.
    forward_ = !has_header(fd, end, bytes_read);
    if (forward_) start_forward();
  }

  // The record before the last one returned, or nullopt at the start of the file.
  std::optional<log_record> prev() {
    if (!forward_) {
      if (end_ == 0) return std::nullopt;
      if (auto r = record_ending_at(in_, end_)) {
        end_ -= r->first.total();
        return record_of(r->first, r->second);
      }
      // A torn end: the rest is read forward.
      forward_ = true;
      start_forward();
    }
    while (stretch_.empty()) {
      if (marks_.empty()) return std::nullopt;
      auto from = marks_.back();
      marks_.pop_back();
      walk_forward(
          fd_, from, stretch_end_, bytes_read_,
          [&](uint64_t, const head& h, const byte* p) { stretch_.push_back(record_of(h, p)); });
      stretch_end_ = from;
    }
    auto r = std::move(stretch_.back());
    stretch_.pop_back();
    return r;
  }

 private:
  // Marks where every 64 KiB of the records before end_ starts.
  void start_forward() {
    uint64_t last = 0;
    stretch_end_ = walk_forward(fd_, 0, end_, bytes_read_, [&](uint64_t at, const head&, auto) {
      if (marks_.empty() || at - last >= block_size) marks_.push_back(last = at);
    });
  }

  int fd_;
  uint64_t end_;  // where the records not yet returned end
  uint64_t& bytes_read_;
  file_reader in_;
  bool forward_ = false;
  std::vector<uint64_t> marks_;  // starts of the stretches not yet read
  uint64_t stretch_end_ = 0;
  std::vector<log_record> stretch_;  // the stretch being returned, oldest first
};

// Writes all of `bytes` to `fd`; the error of a write that fails.
std::error_code write_all(int fd, const std::string& bytes) {
  std::size_t done = 0;
  while (done < bytes.size()) {
    auto n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return {errno, std::system_category()};
    if (n == 0) return std::make_error_code(std::errc::no_space_on_device);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

std::string encode_log_record(int64_t time, uint8_t fd, const char* data, std::size_t size,
                              uint64_t seq) {
  std::string out;
  out.reserve(size + log_record_overhead);
  out.push_back(static_cast<char>(0x95));
  out.push_back(static_cast<char>(0xd3));
  put_be(out, static_cast<uint64_t>(time), 8);
  out.push_back(static_cast<char>(0xcc));
  out.push_back(static_cast<char>(fd));
  out.push_back(static_cast<char>(0xcf));
  put_be(out, seq, 8);
  out.push_back(static_cast<char>(0xc6));
  put_be(out, size, 4);
  if (size > 0) out.append(data, size);
  out.push_back(static_cast<char>(0xce));
  put_be(out, size + log_record_overhead, 4);
  return out;
}

std::string log_file_header(uint64_t seq) {
  return encode_log_record(0, header_fd, nullptr, 0, seq);
}

std::vector<log_record> decode_log(const std::string& bytes) {
  std::vector<log_record> out;
  auto p = reinterpret_cast<const byte*>(bytes.data());
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    head h;
    auto avail = bytes.size() - pos;
    if (read_head(p + pos, avail, h) != parse::ok || h.total() > avail || !ends_well(p + pos, h))
      break;
    if (!is_header(h)) out.push_back(record_of(h, p + pos));
    pos += h.total();
  }
  return out;
}

fs::path log_file(const fs::path& dir, uint32_t n) {
  return dir / (n == 0 ? std::string("container.log") : "container.log." + std::to_string(n));
}

bool log_writer::open(const fs::path& dir, api::log_config config) {
  dir_ = dir;
  config_ = api::effective_log_config(config);
  fd_.reset();
  size_ = 0;
  seq_end_ = 0;
  auto path = log_file(dir, 0);
  if (os::unique_fd old(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); old) {
    struct stat sb {};
    if (::fstat(old.get(), &sb) == 0 && sb.st_size > 0) {
      // Appended to only when it is of this format and ends with a whole record; the output
      // goes on from where its last record ends.
      auto size = static_cast<uint64_t>(sb.st_size);
      uint64_t read = 0;
      file_reader in(old.get(), size, true, read);
      auto last = has_header(old.get(), size, read) ? record_ending_at(in, size) : std::nullopt;
      if (last) {
        seq_end_ = last->first.seq + last->first.data;
      } else {
        // A torn end (or an older berthd's file): its whole records tell where the output got.
        walk_forward(old.get(), 0, size, read,
                     [&](uint64_t, const head& h, const byte*) { seq_end_ = h.seq + h.data; });
        rotate();
      }
    }
  }
  fd_.reset(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!fd_) return false;
  struct stat sb {};
  size_ = ::fstat(fd_.get(), &sb) == 0 ? static_cast<uint64_t>(sb.st_size) : 0;
  if (size_ == 0) start_file();
  return true;
}

void log_writer::reset() {
  fd_.reset();
  size_ = 0;
}

void log_writer::start_file() {
  auto header = log_file_header(seq_end_);
  if (write_all(fd_.get(), header)) {
    if (::ftruncate(fd_.get(), 0) != 0) fd_.reset();
    return;
  }
  size_ = header.size();
}

std::error_code log_writer::rotate() {
  // The oldest file goes and each other moves one up: container.log becomes container.log.1
  // (with one file kept it just goes). Readers hold their files open, so none moves under them.
  std::error_code ec;
  fs::remove(log_file(dir_, config_.max_file - 1), ec);
  for (uint32_t n = config_.max_file - 1; n-- > 0;)
    fs::rename(log_file(dir_, n), log_file(dir_, n + 1), ec);
  if (!fd_) return {};
  fd_.reset(
      ::open(log_file(dir_, 0).c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
  size_ = 0;
  if (!fd_) return {errno, std::system_category()};
  start_file();
  return {};
}

std::error_code log_writer::append(int64_t time, uint8_t fd, const char* data, std::size_t size) {
  return append(time, fd, data, size, seq_end_);
}

std::error_code log_writer::append(int64_t time, uint8_t fd, const char* data, std::size_t size,
                                   uint64_t seq) {
  if (!fd_) return {};
  // A record fits in a file with only its header, so no file ever holds more than max-size.
  auto room = std::min<uint64_t>(log_record_data_max, config_.max_size - 2 * log_record_overhead);
  for (std::size_t off = 0; off < size;) {
    auto n = static_cast<std::size_t>(std::min<uint64_t>(room, size - off));
    auto bytes = encode_log_record(time, fd, data + off, n, seq + off);
    if (size_ > log_record_overhead && size_ + bytes.size() > config_.max_size)
      if (auto ec = rotate()) return ec;
    if (!fd_) return std::make_error_code(std::errc::bad_file_descriptor);
    if (auto ec = write_all(fd_.get(), bytes)) {
      // Cut the partial record off again: the file ends with a whole record, as readers need.
      if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) != 0) fd_.reset();
      return ec;
    }
    size_ += bytes.size();
    off += n;
    seq_end_ = seq + off;
  }
  return {};
}

log_files open_log_files(const fs::path& dir, uint32_t max_file, uint64_t limit) {
  log_files out;
  for (uint32_t n = std::max(1u, max_file); n-- > 0;) {
    os::unique_fd fd(::open(log_file(dir, n).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat sb {};
    if (!fd || ::fstat(fd.get(), &sb) != 0) continue;
    auto size = static_cast<uint64_t>(sb.st_size);
    out.files.emplace_back(std::move(fd), n == 0 ? std::min(size, limit) : size);
  }
  return out;
}

void for_each_log_record(const log_files& logs, const std::function<void(log_record&&)>& emit) {
  for (auto& [fd, size] : logs.files)
    walk_forward(fd.get(), 0, size, logs.bytes_read, [&](uint64_t, const head& h, const byte* p) {
      if (!is_header(h)) emit(record_of(h, p));
    });
}

std::vector<log_record> tail_log(const log_files& logs, int64_t lines) {
  std::vector<log_record> out;
  if (lines < 0) {
    for_each_log_record(logs, [&](log_record&& r) { out.push_back(std::move(r)); });
    return out;
  }
  if (lines == 0) return out;
  // Records are taken from the newest back until they make one line more than asked for (the
  // oldest may continue a line of the records before it), counting the lines as tail_lines
  // makes them: a record adds a line per newline and one for an unfinished end, less one when
  // that end continues in the record after it (same stream).
  std::deque<log_record> taken;
  int64_t count = 0;
  for (auto f = logs.files.rbegin(); f != logs.files.rend() && count <= lines; ++f) {
    reverse_records records(f->first.get(), f->second, logs.bytes_read);
    while (count <= lines) {
      auto r = records.prev();
      if (!r) break;
      if (r->data.empty()) continue;
      bool open_end = r->data.back() != '\n';
      bool continues = open_end && !taken.empty() && taken.front().fd == r->fd;
      count += std::count(r->data.begin(), r->data.end(), '\n') + (open_end ? 1 : 0) -
               (continues ? 1 : 0);
      taken.push_front(std::move(*r));
    }
  }
  if (count > lines) {
    // The oldest record's lines before the ones asked for go, so it starts a whole line.
    auto excess = count - lines;
    auto& first = taken.front().data;
    auto newlines = std::count(first.begin(), first.end(), '\n');
    auto cut = first.begin();
    for (int64_t n = 0; n < std::min(excess, newlines); ++n)
      cut = std::find(cut, first.end(), '\n') + 1;
    if (excess > newlines) cut = first.end();
    first.erase(first.begin(), cut);
    if (first.empty()) taken.pop_front();
  }
  out.assign(std::make_move_iterator(taken.begin()), std::make_move_iterator(taken.end()));
  return tail_lines(out, lines);
}

std::vector<log_record> tail_lines(const std::vector<log_record>& records, int64_t lines) {
  if (lines < 0) return records;
  // Split into lines (a line keeps its newline), then keep the last ones.
  std::vector<log_record> pieces;
  for (auto& r : records) {
    std::size_t start = 0;
    while (start < r.data.size()) {
      auto nl = std::find(r.data.begin() + static_cast<long>(start), r.data.end(), '\n');
      auto end = static_cast<std::size_t>(nl - r.data.begin()) + (nl == r.data.end() ? 0 : 1);
      log_record piece{
          r.time,
          r.fd,
          {r.data.begin() + static_cast<long>(start), r.data.begin() + static_cast<long>(end)}};
      // A piece without a newline continues on the next record of the same stream.
      if (!pieces.empty() && pieces.back().fd == r.fd && !pieces.back().data.empty() &&
          pieces.back().data.back() != '\n' && start == 0)
        pieces.back().data.insert(pieces.back().data.end(), piece.data.begin(), piece.data.end());
      else
        pieces.push_back(std::move(piece));
      start = end;
    }
  }
  if (static_cast<int64_t>(pieces.size()) > lines)
    pieces.erase(pieces.begin(), pieces.end() - lines);
  return pieces;
}

bool cap_console(const fs::path& console, uint64_t max) {
  os::unique_fd fd(::open(console.c_str(), O_RDWR | O_CLOEXEC));
  struct stat sb {};
  if (!fd || ::fstat(fd.get(), &sb) != 0 || static_cast<uint64_t>(sb.st_size) <= max) return false;
  // Read on to the end as it is now (QEMU may have written more since the stat), then empty it
  // at once: the window in which QEMU's output is lost is one pread and one ftruncate long.
  std::vector<char> tail;
  auto from = static_cast<uint64_t>(sb.st_size) - max;
  char buf[65536];
  for (;;) {
    auto n = ::pread(fd.get(), buf, sizeof buf, static_cast<off_t>(from));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    tail.insert(tail.end(), buf, buf + n);
    from += static_cast<uint64_t>(n);
    if (tail.size() > 2 * max) tail.erase(tail.begin(), tail.end() - static_cast<long>(max));
  }
  if (::ftruncate(fd.get(), 0) != 0) return false;
  if (tail.size() > max) tail.erase(tail.begin(), tail.end() - static_cast<long>(max));
  auto old = console;
  old += ".1";
  auto tmp = console;
  tmp += ".1.tmp";
  os::unique_fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  if (!out) return true;
  std::size_t done = 0;
  while (done < tail.size()) {
    auto n = ::write(out.get(), tail.data() + done, tail.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  out.reset();
  if (done != tail.size() || ::rename(tmp.c_str(), old.c_str()) != 0) ::unlink(tmp.c_str());
  return true;
}

void for_each_console_piece(const fs::path& dir,
                            const std::function<void(std::vector<char>&&)>& emit) {
  // At most the last 64 MiB of each: a console the cap did not reach (berthd was away) is
  // still shown without holding it all.
  constexpr uint64_t shown_max = 64u << 20;
  for (auto name : {"console.log.1", "console.log"}) {
    os::unique_fd fd(::open((dir / name).c_str(), O_RDONLY | O_CLOEXEC));
    struct stat sb {};
    if (!fd || ::fstat(fd.get(), &sb) != 0) continue;
    auto size = static_cast<uint64_t>(sb.st_size);
    for (uint64_t off = size > shown_max ? size - shown_max : 0; off < size;) {
      std::vector<char> piece(static_cast<std::size_t>(std::min<uint64_t>(block_size, size - off)));
      auto n = ::pread(fd.get(), piece.data(), piece.size(), static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      piece.resize(static_cast<std::size_t>(n));
      off += static_cast<uint64_t>(n);
      emit(std::move(piece));
    }
  }
}

}  // namespace berth::vm
