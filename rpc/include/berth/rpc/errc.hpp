// errc: the error classes that cross every berth wire (CLI <-> berthd <-> berth-init).
//
// Like containerd's errdefs, a few shared classes that callers can act on; the message carries
// the detail. The numbers are part of the protocol (docs/protocol.md) and never change meaning.
#pragma once

#include <cstdint>
#include <string_view>

namespace berth {

/// Stable error classes of the berth protocols.
enum class errc : uint8_t {
  none = 0,               ///< Not an error.
  invalid_argument = 1,   ///< The request is malformed or a value is out of range.
  not_found = 2,          ///< The named container, image or process does not exist.
  already_exists = 3,     ///< A name or id is taken.
  conflict = 4,           ///< The object is in a state that forbids the request.
  unavailable = 5,        ///< A peer (guest agent, registry, QEMU) did not answer.
  internal = 6,           ///< A bug: an invariant broke.
  protocol = 7,           ///< The peer broke the wire protocol.
  no_such_method = 8,     ///< The method is unknown to this peer.
  cancelled = 9,          ///< The operation was stopped before it finished.
  unsupported = 10,       ///< The request is valid but this host or build cannot do it.
  exec_not_found = 11,    ///< The command to run does not exist in the container.
  exec_denied = 12,       ///< The command exists but cannot be executed.
  timeout = 13,           ///< The operation did not finish in time.
  io = 14,                ///< A read or write on the host failed (disk full, permissions).
  unauthorized = 15,      ///< A registry wants credentials, or refused the ones given.
  untrusted = 16,         ///< A registry's TLS certificate is not trusted.
  no_such_platform = 17,  ///< The image exists, but not for the platform asked for.
};

/// The snake_case name of `code`, as documented in docs/protocol.md.
constexpr std::string_view to_string(errc code) {
  switch (code) {
    case errc::none:
      return "none";
    case errc::invalid_argument:
      return "invalid_argument";
    case errc::not_found:
      return "not_found";
    case errc::already_exists:
      return "already_exists";
    case errc::conflict:
      return "conflict";
    case errc::unavailable:
      return "unavailable";
    case errc::internal:
      return "internal";
    case errc::protocol:
      return "protocol";
    case errc::no_such_method:
      return "no_such_method";
    case errc::cancelled:
      return "cancelled";
    case errc::unsupported:
      return "unsupported";
    case errc::exec_not_found:
      return "exec_not_found";
    case errc::exec_denied:
      return "exec_denied";
    case errc::timeout:
      return "timeout";
    case errc::io:
      return "io";
    case errc::unauthorized:
      return "unauthorized";
    case errc::untrusted:
      return "untrusted";
    case errc::no_such_platform:
      return "no_such_platform";
  }
  return "unknown";
}

/// Whether `value` names a known class (anything else from a peer is treated as internal).
constexpr bool is_known(uint64_t value) {
  return value <= static_cast<uint64_t>(errc::no_such_platform);
}

}  // namespace berth
