// disk.cpp: sparse ext4 disks, made whole or not at all.
#include "berth/vm/disk.hpp"

#include "berth/actors/vocabulary.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

namespace berth::vm {

namespace fs = std::filesystem;

namespace {

// The line of a tool's complaint worth showing: its last non-empty one (mkfs.ext4 warns about
// each sector it could not erase before it says why it gave up).
std::string last_line(const std::string& text) {
  auto end = text.find_last_not_of(" \n\r\t");
  if (end == std::string::npos) return "no message";
  auto start = text.rfind('\n', end);
  return text.substr(start == std::string::npos ? 0 : start + 1,
                     end - (start == std::string::npos ? 0 : start + 1) + 1);
}

}  // namespace

caf::expected<void> make_ext4_disk(const fs::path& disk, std::uint64_t size,
                                   const std::string& label) {
  auto tmp = disk;
  tmp += ".tmp";
  auto fail = [&](std::string why) -> caf::error {
    std::error_code ec;
    fs::remove(tmp, ec);
    return make_error(errc::io, "cannot make the disk " + disk.string() + ": " + why);
  };
  {
    os::unique_fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)
      return fail(std::strerror(errno));
  }
  auto r = os::run({"mkfs.ext4", "-q", "-F", "-m", "0", "-L", label.substr(0, 16), tmp.string()},
                   std::chrono::seconds(120));
  if (r.exit_code != 0) return fail(last_line(r.errors + r.output));
  {
    os::unique_fd fd(::open(tmp.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd || ::fsync(fd.get()) != 0) return fail(std::string("fsync: ") + std::strerror(errno));
  }
  std::error_code ec;
  fs::rename(tmp, disk, ec);
  if (ec) return fail("rename: " + ec.message());
  os::fsync_dir(disk.parent_path());
  return caf::unit;
}

}  // namespace berth::vm
