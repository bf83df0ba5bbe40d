// outbox: the messages the agent has not written to the host yet.
//
// One FIFO of encoded frames, so the host sees them in the order they were produced: a process's
// output notifications, then its exit notification, then the answers to `wait`. While no host is
// connected (or while it reads slowly) the queue holds on to notifications, within bounds: at most
// max_output bytes of queued output per process (the excess is dropped and counted), while exit
// notifications are never dropped. Responses belong to the connection that asked, so a disconnect
// drops them; a frame cut short by a disconnect is sent again from its start.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <string_view>

namespace berth::agent {

/// The queue of encoded frames waiting for the host.
class outbox {
 public:
  /// Output bytes of one process that may wait in the queue while it is bounded.
  static constexpr std::size_t default_max_output = 1u << 20;

  /// Makes an empty queue with the given bound.
  explicit outbox(std::size_t max_output = default_max_output) : max_output_(max_output) {}

  /// Queues the answer to a request; dropped if the connection goes away first.
  void response(std::string frame);

  /// Queues a notification that is never dropped (exit).
  void notification(std::string frame);

  /// Queues an `output` notification of `data` from process `id`'s descriptor `fd`. When
  /// `bounded`, keeps the process's queued output within max_output and returns how many bytes
  /// of `data` it dropped; otherwise queues everything and returns 0.
  std::size_t output(const std::string& id, uint8_t fd, std::string_view data, bool bounded);

  /// Output bytes of process `id` waiting in the queue.
  std::size_t queued_output(const std::string& id) const;

  /// The connection went away: drops responses and rewinds a frame that was partly written.
  void disconnected();

  /// Whether nothing waits.
  bool empty() const { return frames_.empty(); }

  /// Frames waiting.
  std::size_t size() const { return frames_.size(); }

  /// Bytes of all frames waiting.
  std::size_t bytes() const { return bytes_; }

  /// The result of flush().
  enum class flush_result {
    done,     ///< Everything was written.
    blocked,  ///< `fd` takes no more now (EAGAIN); wait for POLLOUT.
    failed,   ///< A write failed otherwise (EPIPE, ECONNRESET, EIO...); errno tells.
  };

  /// Writes as many frames to `fd` (non-blocking) as it takes; `socket` sends with MSG_NOSIGNAL
  /// so a closed peer is an EPIPE, not a SIGPIPE.
  flush_result flush(int fd, bool socket = false);

 private:
  enum class kind : uint8_t { response, notification, output };

  struct frame {
    kind type;
    std::string bytes;
    std::string process;  // output frames: whose output
    std::size_t payload;  // output frames: bytes of output carried
  };

  void pop_front();

  std::size_t max_output_;
  std::deque<frame> frames_;
  std::size_t head_written_ = 0;
  std::size_t bytes_ = 0;
  std::map<std::string, std::size_t> output_bytes_;
};

}  // namespace berth::agent
