// guest_wire: the one place where berthd turns bytes from a guest agent into values.
//
// The guest, and so every byte berth-init sends, is hostile. Everything berthd takes from an
// agent connection goes through here: guest_reader splits the stream into messages under the
// bounds below (a message is counted object by object before msgpack builds it, so a few MiB of
// nils cannot become hundreds of MiB of objects), and decode<T>() converts a packed answer or
// notification into T as a value check that never throws: a wrong type, a missing or oversized
// part, an out-of-range value all come back as an errc::protocol error naming what was wrong.
// The vm actor's reply handlers call decode<T>() and nothing else on guest data; the agent_decode
// fuzzer drives these same functions.
#pragma once

#include "berth/actors/vocabulary.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace berth::vm {

/// Bounds on what one guest may send and on what berthd queues for it.
namespace guest_limits {
/// Bytes of one message from the guest (the agent keeps its answers under 7 MiB).
inline constexpr std::size_t max_message = 8u << 20;
/// Msgpack objects in one message: a full `list` answer (65536 entries of 17) fits.
inline constexpr std::size_t max_objects = 5u << 18;
/// Nesting depth of arrays and maps.
inline constexpr std::size_t max_depth = 16;
/// Entries of one array or map.
inline constexpr std::size_t max_elements = 1u << 16;
/// Bytes of notifications handed to the vm actor and not yet taken by it; beyond this the
/// session stops reading the agent socket until the actor caught up (back-pressure).
inline constexpr std::size_t max_unread = 4u << 20;
/// Reading starts again once the vm actor's backlog fell below this.
inline constexpr std::size_t resume_below = 1u << 20;
/// Calls to the guest waiting for their answer; more fail at once with unavailable.
inline constexpr std::size_t max_pending_calls = 1024;
/// Bytes written to the guest and not yet taken by it; a call that would exceed this fails with
/// unavailable, a guest request whose error answer would exceed it ends the session.
inline constexpr std::size_t max_unsent = 16u << 20;
/// Bytes of one output notification's data (the agent sends at most 64 KiB at once).
inline constexpr std::size_t max_output_chunk = 1u << 20;
/// Entries of the disk and network lists of a `stats` answer.
inline constexpr std::size_t max_stat_devices = 1024;
}  // namespace guest_limits

/// Counts the msgpack objects of a byte stream as it arrives, without building them, and says
/// where each top-level object ends. Input is hostile: it errs once a message holds more than
/// `max_objects` objects.
class object_counter {
 public:
  explicit object_counter(std::size_t max_objects = guest_limits::max_objects)
      : max_(max_objects) {}

  /// Takes `size` more bytes; an error once the current message is over the bound or malformed.
  caf::error feed(const char* data, std::size_t size);

  /// Complete top-level objects seen so far.
  std::size_t complete() const { return complete_; }

  /// Objects of the message being received.
  std::size_t current() const { return objects_; }

 private:
  std::size_t max_;
  std::size_t complete_ = 0;
  std::size_t objects_ = 0;     // of the current top-level object
  uint64_t pending_ = 0;        // objects the current top-level object still owes
  uint64_t skip_ = 0;           // payload bytes of a str, bin or ext still to pass
  unsigned char head_[9] = {};  // a header split across reads
  std::size_t head_len_ = 0;
  std::size_t head_need_ = 0;
  void on_header();
};

/// The inbound half of an agent session: bytes in, checked msgpack-RPC messages out.
class guest_reader {
 public:
  guest_reader();

  /// Takes received bytes; an error means the guest broke the protocol (end the session).
  caf::error feed(const char* data, std::size_t size);

  /// Takes the next complete message into `out`: true if there was one, false if more bytes are
  /// needed; an error means the guest broke the protocol.
  caf::expected<bool> next(rpc::message& out);

  /// Bytes received but not yet part of a message.
  std::size_t buffered() const { return decoder_.buffered(); }

 private:
  rpc::decoder decoder_;
  object_counter counter_;
};

/// The text of a guest-chosen string fit for a log line: at most `max` characters, anything
/// but printable ASCII escaped.
std::string guest_text(std::string_view text, std::size_t max = 80);

namespace detail {

caf::error wire_error(std::string text);

// Value checks beyond msgpack's types, one for each type a guest sends; none by default.
inline caf::error check(const agent::empty&) {
  return {};
}
inline caf::error check(const agent::version_info&) {
  return {};
}
inline caf::error check(const agent::process_started&) {
  return {};
}
inline caf::error check(const agent::exit_status&) {
  return {};
}
caf::error check(const agent::output_chunk& x);
caf::error check(const agent::vm_stats& x);
inline caf::error check(const agent::file_info&) {
  return {};
}
inline caf::error check(const std::vector<agent::file_info>&) {
  return {};
}
inline caf::error check(const agent::read_result&) {
  return {};
}

// Unpacks `bytes` as exactly one object under guest_limits into `out`; never throws.
caf::error unpack_checked(std::string_view bytes, msgpack::object_handle& out);

}  // namespace detail

/// Converts packed bytes from a guest (an answer or a notification's argument) to T: one
/// object, within guest_limits, of T's shape, passing T's value check. Never throws; any
/// failure is an errc::protocol error that says what was wrong.
template <class T>
caf::expected<T> decode(std::string_view bytes) {
  msgpack::object_handle handle;
  if (auto err = detail::unpack_checked(bytes, handle)) return err;
  T out{};
  try {
    handle.get().convert(out);
  } catch (const std::exception& e) {
    return detail::wire_error(std::string("wrong shape: ") + e.what());
  }
  if (auto err = detail::check(out)) return err;
  return out;
}

}  // namespace berth::vm
