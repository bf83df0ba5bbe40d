// image_load.cpp: uploading an image archive, tarring a layout directory on the way.
#include "commands/image_load.hpp"

#include "format.hpp"

#include "berth/rpc/api.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>

namespace berth::cli {

namespace fs = std::filesystem;

namespace {

// Sends a tar stream to image.load.* in 1 MiB chunks, keeping a few in flight.
class uploader {
 public:
  explicit uploader(rpc::client& c) : c_(c) {
    id_ = c_.call<api::upload>(api::method::image_load_begin).upload_id;
    progress_ = ::isatty(STDERR_FILENO);
  }
  void write(const char* p, std::size_t n) {
    buf_.append(p, n);
    while (buf_.size() >= chunk) flush_chunk(chunk);
  }
  std::vector<api::image_info> finish() {
    if (!buf_.empty()) flush_chunk(buf_.size());
    while (!inflight_.empty()) settle();
    if (progress_) std::fprintf(stderr, "\r%-60s\r", "");
    return c_.call<std::vector<api::image_info>>(api::method::image_load_end, api::upload{id_});
  }

 private:
  static constexpr std::size_t chunk = 1u << 20;
  void flush_chunk(std::size_t n) {
    api::upload_chunk msg;
    msg.upload_id = id_;
    msg.data.assign(buf_.data(), buf_.data() + n);
    buf_.erase(0, n);
    inflight_.push_back(c_.send(api::method::image_load_chunk, msg));
    sent_ += n;
    if (inflight_.size() >= 4) settle();
    if (progress_) std::fprintf(stderr, "\rLoading: %s sent", human_size(sent_).c_str());
  }
  void settle() {
    rpc::result_as<api::empty>(c_.wait(inflight_.front()));
    inflight_.pop_front();
  }
  rpc::client& c_;
  uint32_t id_ = 0;
  std::string buf_;
  std::deque<uint32_t> inflight_;
  uint64_t sent_ = 0;
  bool progress_ = false;
};

// Tars an OCI layout directory into the uploader (layouts hold only directories and files).
void tar_directory(const fs::path& dir, uploader& up) {
  std::unique_ptr<archive, decltype(&archive_write_free)> ar(archive_write_new(),
                                                             archive_write_free);
  archive_write_set_format_pax_restricted(ar.get());
  archive_write_set_bytes_in_last_block(ar.get(), 1);
  auto write_cb = [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
    static_cast<uploader*>(ctx)->write(static_cast<const char*>(buf), n);
    return static_cast<la_ssize_t>(n);
  };
  if (archive_write_open(ar.get(), &up, nullptr, write_cb, nullptr) != ARCHIVE_OK)
    throw cli_error(1, archive_error_string(ar.get()));
  std::vector<char> buf(1 << 20);
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    auto rel = fs::relative(e.path(), dir).string();
    std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(),
                                                                        archive_entry_free);
    archive_entry_set_pathname(entry.get(), rel.c_str());
    if (e.is_directory()) {
      archive_entry_set_filetype(entry.get(), AE_IFDIR);
      archive_entry_set_perm(entry.get(), 0755);
      archive_write_header(ar.get(), entry.get());
    } else if (e.is_regular_file()) {
      archive_entry_set_filetype(entry.get(), AE_IFREG);
      archive_entry_set_perm(entry.get(), 0644);
      archive_entry_set_size(entry.get(), static_cast<la_int64_t>(e.file_size()));
      archive_write_header(ar.get(), entry.get());
      int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        throw cli_error(1, "cannot read " + e.path().string() + ": " + std::strerror(errno));
      ssize_t n;
      while ((n = ::read(fd, buf.data(), buf.size())) > 0)
        archive_write_data(ar.get(), buf.data(), static_cast<size_t>(n));
      ::close(fd);
    }
  }
  archive_write_close(ar.get());
}

int cmd_image_load(context& ctx, const parsed& p) {
  auto input = p.get("input", "-");
  if (input == "-" && ::isatty(STDIN_FILENO))
    throw cli_error(1, "requested load from stdin, but stdin is empty (use -i FILE)");
  // Everything that can fail locally fails before the daemon is asked to spool anything.
  bool is_dir = input != "-" && fs::is_directory(input);
  int fd = -1;
  if (is_dir) {
    if (!fs::exists(fs::path(input) / "index.json"))
      throw cli_error(1, input + " is not an OCI image layout (no index.json)");
  } else {
    fd = input == "-" ? STDIN_FILENO : ::open(input.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw cli_error(1, "open " + input + ": " + std::strerror(errno));
  }
  struct closer {
    int fd;
    ~closer() {
      if (fd > STDIN_FILENO) ::close(fd);
    }
  } close_input{fd};
  uploader up(ctx.conn());
  if (is_dir) {
    tar_directory(input, up);
  } else {
    std::vector<char> buf(1 << 20);
    for (;;) {
      auto n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw cli_error(1, "read " + input + ": " + std::strerror(errno));
      if (n == 0) break;
      up.write(buf.data(), static_cast<std::size_t>(n));
    }
  }
  std::vector<api::image_info> loaded;
  try {
    loaded = up.finish();
  } catch (const rpc::call_error& e) {
    throw cli_error(1, e.what());
  }
  for (auto& img : loaded) {
    if (img.tags.empty()) std::printf("Loaded image ID: %s\n", img.id.c_str());
    for (auto& t : img.tags) std::printf("Loaded image: %s\n", t.c_str());
  }
  return 0;
}

}  // namespace

command load_command() {
  return {"load",
          "[OPTIONS]",
          "Load an image from an OCI archive (tar) or an OCI layout directory",
          {{"input", 'i', true, "FILE",
            "Read from FILE (a tar or a layout directory) instead of stdin"},
           {"quiet", 'q', false, "", "Suppress progress"}},
          false,
          0,
          0,
          cmd_image_load};
}

}  // namespace berth::cli
