// outbox.cpp: queueing policy and non-blocking writes.
#include "outbox.hpp"

#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace berth::agent {

void outbox::response(std::string frame) {
  bytes_ += frame.size();
  frames_.push_back({kind::response, std::move(frame), {}, 0, {}});
}

void outbox::first(std::string frame) {
  bytes_ += frame.size();
  frames_.push_front({kind::response, std::move(frame), {}, 0, {}});
}

void outbox::notification(std::string frame) {
  bytes_ += frame.size();
  frames_.push_back({kind::notification, std::move(frame), {}, 0, {}});
}

std::size_t outbox::output(const std::string& id, uint8_t fd, std::string_view data, bool bounded) {
  std::size_t dropped = 0;
  if (bounded) {
    auto queued = queued_output(id);
    std::size_t room = queued >= max_output_ ? 0 : max_output_ - queued;
    if (data.size() > room) {
      dropped = data.size() - room;
      data = data.substr(0, room);
    }
  }
  auto& st = streams_[id];
  auto seq = st.next_seq;
  // Dropped bytes keep their numbers: the host sees the gap.
  st.next_seq += data.size() + dropped;
  if (data.empty()) return dropped;
  frames_.push_back(output_frame(id, fd, seq, data));
  return dropped;
}

outbox::frame outbox::output_frame(const std::string& id, uint8_t fd, uint64_t seq,
                                   std::string_view data) {
  output_chunk chunk{id, fd, std::vector<char>(data.begin(), data.end()), seq};
  auto bytes = rpc::encode_notification(notice::output, chunk);
  bytes_ += bytes.size();
  output_bytes_[id] += data.size();
  return {kind::output, std::move(bytes), id, data.size(), {fd, seq, std::string(data)}};
}

void outbox::start_output(const std::string& id, uint64_t seq) {
  auto& st = streams_[id];
  st = stream{};
  st.next_seq = seq;
}

void outbox::forget(const std::string& id) {
  streams_.erase(id);
}

void outbox::replay() {
  std::deque<frame> again;
  for (auto& [id, st] : streams_) {
    for (auto& s : st.kept) again.push_back(output_frame(id, s.fd, s.seq, s.data));
    st.kept.clear();
    st.kept_bytes = 0;
  }
  // Ahead of the rest, after a frame that is partly written (first()'s answer, say).
  auto at = frames_.begin() + (head_written_ > 0 && !frames_.empty() ? 1 : 0);
  frames_.insert(at, std::make_move_iterator(again.begin()), std::make_move_iterator(again.end()));
}

std::size_t outbox::queued_output(const std::string& id) const {
  auto i = output_bytes_.find(id);
  return i == output_bytes_.end() ? 0 : i->second;
}

void outbox::pop_front() {
  auto& f = frames_.front();
  bytes_ -= f.bytes.size();
  if (f.type == kind::output) {
    auto i = output_bytes_.find(f.process);
    i->second -= f.payload;
    if (i->second == 0) output_bytes_.erase(i);
    keep(f);
  }
  frames_.pop_front();
  head_written_ = 0;
}

// A written output frame is kept for replay(), within max_retained bytes of its process.
void outbox::keep(frame& f) {
  auto st = streams_.find(f.process);
  if (st == streams_.end() || max_retained_ == 0) return;
  auto& s = st->second;
  s.kept_bytes += f.output.data.size();
  s.kept.push_back(std::move(f.output));
  while (s.kept_bytes > max_retained_) {
    auto& old = s.kept.front();
    auto cut = std::min(old.data.size(), s.kept_bytes - max_retained_);
    if (cut == old.data.size()) {
      s.kept_bytes -= cut;
      s.kept.pop_front();
    } else {
      old.data.erase(0, cut);
      old.seq += cut;
      s.kept_bytes -= cut;
    }
  }
}

void outbox::disconnected() {
  head_written_ = 0;
  std::deque<frame> kept;
  for (auto& f : frames_) {
    if (f.type == kind::response)
      bytes_ -= f.bytes.size();
    else
      kept.push_back(std::move(f));
  }
  frames_ = std::move(kept);
}

outbox::flush_result outbox::flush(int fd, bool socket) {
  while (!frames_.empty()) {
    // Gather a few frames per write; the first may be partly written already.
    iovec iov[16];
    int count = 0;
    for (auto it = frames_.begin(); it != frames_.end() && count < 16; ++it, ++count) {
      std::size_t skip = count == 0 ? head_written_ : 0;
      iov[count].iov_base = it->bytes.data() + skip;
      iov[count].iov_len = it->bytes.size() - skip;
    }
    ssize_t n;
    if (socket) {
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<std::size_t>(count);
      n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    } else {
      n = ::writev(fd, iov, count);
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return flush_result::blocked;
      return flush_result::failed;
    }
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      std::size_t rest = frames_.front().bytes.size() - head_written_;
      if (left >= rest) {
        left -= rest;
        pop_front();
      } else {
        head_written_ += left;
        left = 0;
      }
    }
  }
  return flush_result::done;
}

}  // namespace berth::agent
