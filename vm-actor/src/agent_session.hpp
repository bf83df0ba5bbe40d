// agent_session: the host end of one connection to a guest's berth-init (a CAF broker).
//
// It owns the connected socket (virtio-serial's unix socket or AF_VSOCK, both plain stream fds),
// frames msgpack-RPC with the shared codec, matches responses to requests and forwards the
// agent's notifications to its owner in arrival order. Messages:
//   (call_atom, method, packed_arg) -> packed_result     a request to the agent
//   to owner: (notice_atom, method, packed_arg)          each notification, as a request whose
//                                                        (empty) answer says the owner took it
//   to owner: (closed_atom, reason)                      the connection ended; the broker exits
// Pending calls fail with errc::unavailable when the connection ends.
//
// The guest is hostile, so everything it sends is read through guest_reader under guest_limits
// (berth/vm/guest_wire.hpp), and what berthd holds for it is bounded: calls waiting for an
// answer, bytes written that the guest has not read, and notifications the owner has not taken
// yet (beyond max_unread the session stops reading the socket until the owner caught up). A
// guest that breaks the protocol ends its session with the reason; the owner then kills its VM.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

#include <string_view>

namespace berth::vm {

/// The reason of (closed_atom, reason) when the guest closed the connection; any other reason
/// is the session's own (the guest broke the protocol or exceeded a bound).
inline constexpr std::string_view closed_by_peer = "closed by peer";

/// Spawns the session for the connected socket `fd` (ownership passes to the broker).
caf::actor spawn_agent_session(caf::actor_system& sys, int fd, caf::actor owner);

}  // namespace berth::vm
