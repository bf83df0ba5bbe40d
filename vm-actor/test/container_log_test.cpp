// Tests for container logs on disk: the writer keeps them within max-size * max-file whatever
// the guest prints, a failed write leaves no torn record behind, `logs -n` reads back from the
// end with memory and reads about the size of its answer (a 16 MiB log of newlines once took
// 1.2 GB), and it gives the lines a whole forward read gives, over rotated files, files of older
// berthd and torn ends. And the console cap: cut in place, so an O_APPEND writer (QEMU) goes on
// at the start of the file.
#include "../src/container_log.hpp"

#include "berth/actors/testing/temp_dir.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>

using namespace berth;
using namespace berth::vm;
namespace fs = std::filesystem;

namespace {

std::string text_of(const std::vector<log_record>& records) {
  std::string out;
  for (auto& r : records) out.append(r.data.begin(), r.data.end());
  return out;
}

uint64_t size_on_disk(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

void append_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::app) << bytes;
}

// A record as berthd before this format wrote it: [time, fd, bytes] and nothing after.
std::string old_record(int64_t time, uint8_t fd, const std::string& data) {
  std::string out;
  out.push_back(static_cast<char>(0x93));
  out.push_back(static_cast<char>(0xd3));
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>((time >> (8 * i)) & 0xff));
  out.push_back(static_cast<char>(fd));
  out.push_back(static_cast<char>(0xc5));
  out.push_back(static_cast<char>((data.size() >> 8) & 0xff));
  out.push_back(static_cast<char>(data.size() & 0xff));
  return out + data;
}

std::string new_record(int64_t time, uint8_t fd, const std::string& data) {
  return encode_log_record(time, fd, data.data(), data.size());
}

// The lines a whole forward read gives: what `logs -n` must print.
std::vector<log_record> reference_tail(const fs::path& dir, uint32_t max_file, int64_t lines) {
  std::vector<log_record> all;
  for_each_log_record(open_log_files(dir, max_file),
                      [&](log_record&& r) { all.push_back(std::move(r)); });
  return tail_lines(all, lines);
}

bool same(const std::vector<log_record>& a, const std::vector<log_record>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (a[i].time != b[i].time || a[i].fd != b[i].fd || a[i].data != b[i].data) return false;
  return true;
}

// Peak resident memory of this process in KiB, reset first when `reset` (Linux clear_refs 5).
long peak_rss_kib(bool reset) {
  if (reset) std::ofstream("/proc/self/clear_refs") << "5";
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  return 0;
}

}  // namespace

TEST_CASE("log records round trip and logs of older berthd still decode") {
  auto bytes = new_record(5, 1, "one\n") + new_record(-7, 2, "") + new_record(1ll << 60, 1, "x");
  auto records = decode_log(bytes);
  REQUIRE(records.size() == 3);
  CHECK(records[0].time == 5);
  CHECK(records[1].time == -7);
  CHECK(records[1].fd == 2);
  CHECK(records[2].time == (1ll << 60));
  CHECK(text_of(records) == "one\nx");
  CHECK(new_record(0, 1, "abc").size() == 3 + log_record_overhead);
  auto old = old_record(9, 2, "old\n") + old_record(10, 1, "er\n");
  CHECK(text_of(decode_log(old + bytes)) == "old\ner\none\nx");
  // A torn last record ends the log; so does a record whose size does not match it.
  CHECK(text_of(decode_log(bytes + new_record(1, 1, "torn").substr(0, 20))) == "one\nx");
  auto lying = new_record(1, 1, "abc");
  lying.back() = static_cast<char>(lying.back() + 1);
  CHECK(decode_log(lying).empty());
}

TEST_CASE("the log writer keeps the files within max-size times max-file whatever is printed") {
  testing::temp_dir dir;
  api::log_config config{10'000, 3};
  log_writer w;
  REQUIRE(w.open(dir.path, config));
  std::mt19937 rng(42);
  std::string printed;
  for (int i = 0; i < 400; ++i) {
    // Chunks up to three times the file size, as a hostile guest may send them.
    std::string chunk(std::uniform_int_distribution<std::size_t>(0, 30'000)(rng), 'a');
    for (auto& c : chunk) c = static_cast<char>('a' + rng() % 26);
    if (rng() % 3 == 0) chunk += "\n";
    REQUIRE_FALSE(w.append(i, 1, chunk.data(), chunk.size()));
    printed += chunk;
    uint64_t total = 0;
    for (uint32_t n = 0; n < 3; ++n) {
      CHECK(size_on_disk(log_file(dir.path, n)) <= config.max_size);
      total += size_on_disk(log_file(dir.path, n));
    }
    CHECK(total <= config.max_size * config.max_file);
    CHECK_FALSE(fs::exists(log_file(dir.path, 3)));
  }
  // What is kept is the end of what was printed, whole records, oldest file first.
  std::string kept;
  for_each_log_record(open_log_files(dir.path, 3),
                      [&](log_record&& r) { kept.append(r.data.begin(), r.data.end()); });
  CHECK(kept.size() > 2 * config.max_size);
  CHECK(printed.compare(printed.size() - kept.size(), kept.size(), kept) == 0);
}

TEST_CASE("with max-file 1 the log starts over in a single file") {
  testing::temp_dir dir;
  log_writer w;
  REQUIRE(w.open(dir.path, {1000, 1}));
  std::string line(300, 'z');
  line += "\n";
  for (int i = 0; i < 20; ++i) REQUIRE_FALSE(w.append(i, 1, line.data(), line.size()));
  CHECK(size_on_disk(log_file(dir.path, 0)) <= 1000);
  CHECK_FALSE(fs::exists(log_file(dir.path, 1)));
  CHECK(text_of(tail_log(open_log_files(dir.path, 1), 1)) == line);
}

TEST_CASE("a write that fails is cut off so the log still ends with a whole record") {
  testing::temp_dir dir;
  log_writer w;
  REQUIRE(w.open(dir.path, {1'000'000, 1}));
  REQUIRE_FALSE(w.append(1, 1, "first\n", 6));
  // The file may grow to 100 bytes only: the next record is cut short by the kernel (EFBIG).
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit old_limit {};
  ::getrlimit(RLIMIT_FSIZE, &old_limit);
  struct rlimit limit = old_limit;
  limit.rlim_cur = 100;
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &limit) == 0);
  std::string big(500, 'b');
  auto ec = w.append(2, 1, big.data(), big.size());
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  ::signal(SIGXFSZ, old_handler);
  CHECK(ec);
  CHECK(w.size() == 6 + 2 * log_record_overhead);
  CHECK(size_on_disk(log_file(dir.path, 0)) == 6 + 2 * log_record_overhead);
  // Appends go on after the whole record, and every record reads back.
  REQUIRE_FALSE(w.append(3, 1, "third\n", 6));
  CHECK(text_of(tail_log(open_log_files(dir.path, 1), -1)) == "first\nthird\n");
  CHECK(text_of(tail_log(open_log_files(dir.path, 1), 1)) == "third\n");
}

TEST_CASE("a log left torn or by an older berthd is rotated away before anything is appended") {
  testing::temp_dir dir;
  append_bytes(log_file(dir.path, 0),
               old_record(1, 1, "old\n") + new_record(2, 1, "to").substr(0, 9));
  log_writer w;
  REQUIRE(w.open(dir.path, {}));
  CHECK(w.size() == log_record_overhead);
  REQUIRE_FALSE(w.append(3, 1, "new\n", 4));
  CHECK(text_of(tail_log(open_log_files(dir.path, 2), -1)) == "old\nnew\n");
  CHECK(text_of(tail_log(open_log_files(dir.path, 2), 2)) == "old\nnew\n");
  // A log that ends well is appended to as it is.
  log_writer again;
  REQUIRE(again.open(dir.path, {}));
  CHECK(again.size() == 4 + 2 * log_record_overhead);
}

TEST_CASE("logs -n gives the lines a forward read gives, over rotated, old and torn files") {
  std::mt19937 rng(7);
  for (int round = 0; round < 60; ++round) {
    testing::temp_dir dir;
    uint32_t files = 1 + rng() % 3;
    int64_t time = 0;
    for (uint32_t n = files; n-- > 0;) {
      auto records = rng() % 40;
      bool old_prefix = rng() % 3 == 0;
      // A file of this format starts with its header; one with older records does not.
      std::string bytes = old_prefix ? "" : log_file_header();
      for (uint32_t i = 0; i < records; ++i) {
        std::string data;
        auto len = rng() % 4 == 0 ? 0 : rng() % 12;
        for (uint32_t k = 0; k < len; ++k) data.push_back(rng() % 3 == 0 ? '\n' : 'a' + rng() % 3);
        // Output that looks like records must not confuse the walk back.
        if (rng() % 5 == 0) data += new_record(99, 2, "fake\n");
        uint8_t fd = 1 + rng() % 2;
        bool old = old_prefix && i < records / 2;
        bytes += old ? old_record(++time, fd, data) : new_record(++time, fd, data);
      }
      if (rng() % 4 == 0) bytes += new_record(++time, 1, "torn\n").substr(0, rng() % 20);
      append_bytes(log_file(dir.path, n), bytes);
    }
    for (int64_t lines : {0, 1, 2, 3, 5, 8, 13, 40, 1000}) {
      INFO("round " << round << " lines " << lines);
      CHECK(same(tail_log(open_log_files(dir.path, files), lines),
                 reference_tail(dir.path, files, lines)));
    }
  }
}

TEST_CASE("logs -n 1 of a 16 MiB log of newlines reads and holds about one line") {
  testing::temp_dir dir;
  {
    // Written as the writer writes, in the guest's 64 KiB pieces, and then as single newlines.
    log_writer w;
    REQUIRE(w.open(dir.path, {64'000'000, 2}));
    std::string newlines(64 * 1024, '\n');
    for (int i = 0; i < 256; ++i) REQUIRE_FALSE(w.append(i, 1, newlines.data(), newlines.size()));
    for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(w.append(1000 + i, 1, "\n", 1));
    REQUIRE_FALSE(w.append(5000, 2, "last line\n", 10));
  }
  REQUIRE(size_on_disk(log_file(dir.path, 0)) > (16u << 20));
  auto before = rss_kib();
  auto peak_before = peak_rss_kib(true);
  auto files = open_log_files(dir.path, 2);
  auto tail = tail_log(files, 1);
  auto peak = peak_rss_kib(false);
  REQUIRE(tail.size() == 1);
  CHECK(text_of(tail) == "last line\n");
  CHECK(tail[0].fd == 2);
  CHECK(tail[0].time == 5000);
  CHECK(files.bytes_read <= 64 * 1024 + log_record_overhead);
  INFO("rss before " << before << " KiB, peak before " << peak_before << " KiB, peak " << peak);
  CHECK(peak - std::max(before, peak_before) < 8 * 1024);
  // A thousand lines from the end cost about a thousand lines.
  auto more = open_log_files(dir.path, 2);
  auto thousand = tail_log(more, 1000);
  CHECK(thousand.size() == 1000);
  CHECK(more.bytes_read <= 64 * 1024 + log_record_overhead);
  // Without -n everything is read, a block at a time.
  uint64_t records = 0;
  auto all = open_log_files(dir.path, 2);
  for_each_log_record(all, [&](log_record&&) { ++records; });
  CHECK(records > 1000);
  CHECK(all.bytes_read == size_on_disk(log_file(dir.path, 0)));
  CHECK(size_on_disk(log_file(dir.path, 1)) == 0);
}

TEST_CASE("files opened for logs keep what they held while the writer rotates") {
  testing::temp_dir dir;
  log_writer w;
  REQUIRE(w.open(dir.path, {1000, 2}));
  std::string line(100, 'x');
  line += "\n";
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(w.append(i, 1, line.data(), line.size()));
  auto limit = w.size();
  REQUIRE_FALSE(w.append(5, 1, line.data(), line.size()));
  // A follower subscribed before the sixth line: it reads five, the sixth comes live.
  auto files = open_log_files(dir.path, 2, limit);
  for (int i = 6; i < 40; ++i) REQUIRE_FALSE(w.append(i, 1, line.data(), line.size()));
  CHECK(tail_log(files, -1).size() == 5);
  CHECK(tail_log(files, 2).size() == 2);
  CHECK(tail_log(files, 2).back().time == 4);
}

TEST_CASE("the console cap empties the log in place so an appending QEMU writes on at its start") {
  testing::temp_dir dir;
  auto console = dir.path / "console.log";
  // QEMU's -chardev file,append=on: O_APPEND.
  int qemu = ::open(console.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  REQUIRE(qemu >= 0);
  std::string printed;
  for (int i = 0; printed.size() < (3u << 20); ++i)
    printed += "boot line " + std::to_string(i) + "\n";
  REQUIRE(::write(qemu, printed.data(), printed.size()) == static_cast<ssize_t>(printed.size()));
  CHECK_FALSE(cap_console(console, 4u << 20));
  CHECK(size_on_disk(console) == printed.size());
  REQUIRE(cap_console(console, 1u << 20));
  CHECK(size_on_disk(console) == 0);
  std::ifstream in(dir.path / "console.log.1", std::ios::binary);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(kept == printed.substr(printed.size() - (1u << 20)));
  // QEMU writes on: at the start of the file, not after a hole where the old bytes were.
  REQUIRE(::write(qemu, "after\n", 6) == 6);
  ::close(qemu);
  CHECK(size_on_disk(console) == 6);
  std::string shown;
  for_each_console_piece(dir.path, [&](std::vector<char>&& piece) {
    CHECK(piece.size() <= 64 * 1024);
    shown.append(piece.begin(), piece.end());
  });
  CHECK(shown == kept + "after\n");
}

TEST_CASE("the log knows where its output ends across reopening and rotation and a tear") {
  testing::temp_dir dir;
  {
    log_writer w;
    REQUIRE(w.open(dir.path, {200, 2}));
    CHECK(w.seq_end() == 0);
    REQUIRE_FALSE(w.append(1, 1, "hello\n", 6, 40));
    CHECK(w.seq_end() == 46);
    REQUIRE_FALSE(w.append(2, 2, "more\n", 5));  // numbered on from the end
    CHECK(w.seq_end() == 51);
  }
  auto all = [&] {
    std::vector<log_record> out;
    for_each_log_record(open_log_files(dir.path, 2), [&](log_record&& r) { out.push_back(r); });
    return out;
  };
  auto records = all();
  REQUIRE(records.size() == 2);
  CHECK((records[0].seq == 40 && records[1].seq == 46));
  {
    // Reopened (berthd restarted): the end is read back from the last record.
    log_writer w;
    REQUIRE(w.open(dir.path, {200, 2}));
    CHECK(w.seq_end() == 51);
    // A record that does not fit rotates: the new file's header carries the end.
    std::string big(150, 'x');
    REQUIRE_FALSE(w.append(3, 1, big.data(), big.size(), 51));
    CHECK(w.seq_end() == 201);
    REQUIRE_FALSE(w.append(4, 1, "y", 1));
  }
  {
    log_writer w;
    REQUIRE(w.open(dir.path, {200, 2}));
    CHECK(w.seq_end() == 202);
  }
  // A tear (berthd killed mid-write): the end is the last whole record's, and the torn file is
  // rotated away with its whole records kept.
  append_bytes(log_file(dir.path, 0), new_record(5, 1, "torn").substr(0, 12));
  log_writer w;
  REQUIRE(w.open(dir.path, {200, 2}));
  CHECK(w.seq_end() == 202);
  CHECK(w.size() == log_record_overhead);  // only the header
  {
    log_writer fresh;
    REQUIRE(fresh.open(dir.path, {200, 2}));
    CHECK(fresh.seq_end() == 202);  // from the header alone
  }
}
