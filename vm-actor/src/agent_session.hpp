// agent_session: the host end of one connection to a guest's berth-init (a CAF broker).
//
// It owns the connected socket (virtio-serial's unix socket or AF_VSOCK, both plain stream fds),
// frames msgpack-RPC with the shared codec, matches responses to requests and forwards the
// agent's notifications to its owner in arrival order. Messages:
//   (call_atom, method, packed_arg) -> packed_result     a request to the agent
//   to owner: (notice_atom, method, packed_arg)          each notification
//   to owner: (closed_atom, reason)                      the connection ended; the broker exits
// Pending calls fail with errc::unavailable when the connection ends.
#pragma once

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>

namespace berth::vm {

/// Spawns the session for the connected socket `fd` (ownership passes to the broker).
caf::actor spawn_agent_session(caf::actor_system& sys, int fd, caf::actor owner);

}  // namespace berth::vm
