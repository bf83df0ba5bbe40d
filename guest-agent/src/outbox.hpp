// outbox: the messages the agent has not written to the host yet.
//
// One FIFO of encoded frames, so the host sees them in the order they were produced: a process's
// output notifications, then its exit notification, then the answers to `wait`. While no host is
// connected (or while it reads slowly) the queue holds on to notifications, within bounds: at most
// max_output bytes of queued output per process (the excess is dropped and counted), while exit
// notifications are never dropped. Responses belong to the connection that asked, so a disconnect
// drops them; a frame cut short by a disconnect is sent again from its start.
//
// Output written to a host is not known to have reached its log: a berthd killed with bytes in
// its socket, or a QEMU that drops what the guest writes in the moment before the hangup shows,
// loses it. So the last max_retained bytes of output each process sent are kept, numbered (each
// process's output bytes have a seq, output_chunk), and sent again, ahead of everything queued, to
// each new host (replay()); the host keeps each seq once.
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

  /// Output bytes of one process kept after they were written, to be sent again to a new host.
  static constexpr std::size_t default_max_retained = 1u << 20;

  /// Makes an empty queue with the given bounds.
  explicit outbox(std::size_t max_output = default_max_output,
                  std::size_t max_retained = default_max_retained)
      : max_output_(max_output), max_retained_(max_retained) {}

  /// Numbers process `id`'s output from `seq` on (its spec's output_seq), forgetting any kept.
  void start_output(const std::string& id, uint64_t seq);

  /// Forgets what is kept of process `id`'s output (the process is forgotten).
  void forget(const std::string& id);

  /// A new host: the output kept (written to the previous one) is queued again, ahead of
  /// everything else, each process's in order. Right after disconnected() or first().
  void replay();

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

  /// Queues `frame` ahead of everything, as the first bytes a new host reads; a response. Only
  /// right after disconnected(), when no frame is partly written.
  void first(std::string frame);

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

  // Output that was written, kept for replay().
  struct sent {
    uint8_t fd = 1;
    uint64_t seq = 0;
    std::string data;
  };

  struct frame {
    kind type;
    std::string bytes;
    std::string process;  // output frames: whose output
    std::size_t payload;  // output frames: bytes of output carried
    sent output;          // output frames: what is kept once written
  };

  struct stream {
    uint64_t next_seq = 0;  // the seq of the next byte produced
    std::deque<sent> kept;  // oldest first
    std::size_t kept_bytes = 0;
  };

  void pop_front();
  void keep(frame& f);
  frame output_frame(const std::string& id, uint8_t fd, uint64_t seq, std::string_view data);

  std::size_t max_output_;
  std::size_t max_retained_;
  std::map<std::string, stream> streams_;
  std::deque<frame> frames_;
  std::size_t head_written_ = 0;
  std::size_t bytes_ = 0;
  std::map<std::string, std::size_t> output_bytes_;
};

}  // namespace berth::agent
