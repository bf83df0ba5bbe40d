// progress.cpp: drawing pull and push progress.
#include "progress.hpp"

#include "format.hpp"

#include <unistd.h>

#include <algorithm>

namespace berth::cli {

progress_view::progress_view(bool quiet, FILE* out)
    : out_(out), tty_(::isatty(::fileno(out)) != 0), quiet_(quiet) {}

void progress_view::install(rpc::client& c) {
  c.on_notification = [this](const rpc::message& m) {
    if (m.method == api::notice::progress) update(rpc::arg<api::progress>(m));
  };
}

void progress_view::update(const api::progress& p) {
  if (quiet_) return;
  auto it = std::find_if(items_.begin(), items_.end(), [&](auto& i) { return i.p.id == p.id; });
  if (it == items_.end()) {
    items_.push_back({p, clock::now(), p.current});
    it = items_.end() - 1;
  } else {
    bool changed = it->p.status != p.status;
    if (changed && (p.status == "downloading" || p.status == "uploading")) {
      it->since = clock::now();
      it->from = p.current;
    }
    it->p = p;
    if (!tty_ && !changed) return;
  }
  if (!tty_) {
    std::fprintf(out_, "%s: %s\n", p.id.c_str(), p.status.c_str());
    return;
  }
  // Redraw every line: move up to the first, rewrite each.
  if (drawn_ > 0) std::fprintf(out_, "\033[%zuA", drawn_);
  for (auto& i : items_) std::fprintf(out_, "\r\033[K%s\n", line(i).c_str());
  drawn_ = items_.size();
  std::fflush(out_);
}

// "id: downloading [=====>     ] 12.0MB/40.0MB 3.1MB/s".
std::string progress_view::line(const item& i) {
  const auto& p = i.p;
  std::string out = p.id + ": " + p.status;
  if ((p.status == "downloading" || p.status == "uploading") && p.total > 0) {
    constexpr int width = 30;
    int filled = std::clamp(
        static_cast<int>(static_cast<double>(p.current) / static_cast<double>(p.total) * width), 0,
        width);
    out += " [" + std::string(static_cast<std::size_t>(filled), '=') + ">" +
           std::string(static_cast<std::size_t>(width - filled), ' ') + "] " +
           human_size(p.current) + "/" + human_size(p.total);
    auto secs = std::chrono::duration<double>(clock::now() - i.since).count();
    if (secs > 0.2 && p.current > i.from)
      out += " " +
             human_size(static_cast<uint64_t>(static_cast<double>(p.current - i.from) / secs)) +
             "/s";
  }
  return out;
}

}  // namespace berth::cli
