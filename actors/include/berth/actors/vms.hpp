// vms: the typed handle of berthd's vm supervisor (vm-actor/), which owns every container on this
// host and routes each request to the container's vm actor. The handle lives here so that
// berthd's request handlers need not link the vm implementation.
#pragma once

#include "berth/actors/vocabulary.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include <string>
#include <vector>

namespace berth {

/// Registry name of the vm supervisor.
inline constexpr const char* vm_supervisor_name = "vms";

/// The vm supervisor. Every `std::string` naming a container accepts a name, an id or a unique
/// id prefix.
using vm_supervisor_actor = caf::typed_actor<
    /// Creates a container (not started).
    caf::replies_to<create_atom, api::container_spec>::with<api::created>,
    /// Starts a container; answers once its main process runs.
    caf::replies_to<start_atom, std::string>::with<void>,
    /// Stops a container with a timeout in seconds and a signal (0: its stop signal); answers
    /// once it exited.
    caf::replies_to<stop_atom, std::string, int32_t, int32_t>::with<void>,
    /// Answers once the container has exited.
    caf::replies_to<wait_atom, std::string>::with<api::exit_info>,
    /// Removes a container (force: kill it first if it runs).
    caf::replies_to<remove_atom, std::string, bool>::with<void>,
    /// Containers (all, or only the running ones).
    caf::replies_to<list_atom, bool>::with<std::vector<api::container_info>>,
    /// One container.
    caf::replies_to<inspect_atom, std::string>::with<api::container_info>,
    /// Subscribes an actor to a container's output; answers the container's id.
    caf::replies_to<attach_atom, std::string, caf::actor>::with<std::string>,
    /// Sends an actor a container's log as logs_request asks; answers the container's id.
    caf::replies_to<logs_atom, std::string, caf::actor, api::logs_request>::with<std::string>,
    /// Starts a process in a running container, its output to the actor (none: detached);
    /// answers {container id, exec id}.
    caf::replies_to<exec_atom, api::exec_request, caf::actor>::with<std::vector<std::string>>,
    /// Writes to the stdin of a process (container id, process id: the container id again for
    /// the main process); answers once written in the guest.
    caf::replies_to<stdin_atom, std::string, std::string, std::vector<char>>::with<void>,
    /// Ends a process's stdin.
    caf::replies_to<eof_atom, std::string, std::string>::with<void>,
    /// Sets a process's terminal size.
    caf::replies_to<resize_atom, std::string, std::string, uint16_t, uint16_t>::with<void>,
    /// Sends a container's main process a signal.
    caf::replies_to<kill_atom, std::string, int32_t>::with<void>,
    /// A running container's resource figures.
    caf::replies_to<stats_atom, std::string>::with<api::container_stats>,
    /// Pings a running container's guest agent.
    caf::replies_to<ping_atom, std::string>::with<api::ping_result>,
    /// Crashes a container's vm actor (fault injection): its supervisor restarts it.
    caf::replies_to<crash_atom, std::string>::with<void>,
    /// The file calls of berth cp, routed by the request's `container` to its vm actor (see
    /// vm_actor.hpp): stat, list, read, write, mkdir, symlink, set times.
    caf::replies_to<file_atom, api::file_ref>::with<api::file_info>,
    /// A directory's entries.
    caf::replies_to<file_atom, list_atom, api::file_ref>::with<std::vector<api::file_info>>,
    /// Bytes of a regular file.
    caf::replies_to<file_atom, read_atom, api::file_read_request>::with<api::file_data>,
    /// Writes bytes into a regular file.
    caf::replies_to<file_atom, write_atom, api::file_write_request>::with<void>,
    /// Creates a directory.
    caf::replies_to<file_atom, mkdir_atom, api::file_spec>::with<void>,
    /// Creates a symlink.
    caf::replies_to<file_atom, symlink_atom, api::file_spec>::with<void>,
    /// Sets a path's times.
    caf::replies_to<file_atom, touch_atom, api::file_spec>::with<void>,
    /// Stops and starts a container (timeout as for stop).
    caf::replies_to<restart_atom, std::string, int32_t>::with<void>,
    /// Removes every container that is not running.
    caf::replies_to<prune_atom>::with<api::removed>,
    /// Creates a named volume (an ext4 disk image of its own).
    caf::replies_to<volume_atom, create_atom, api::volume_create_request>::with<api::volume_info>,
    /// Every volume.
    caf::replies_to<volume_atom, list_atom>::with<std::vector<api::volume_info>>,
    /// One volume.
    caf::replies_to<volume_atom, inspect_atom, std::string>::with<api::volume_info>,
    /// Removes a volume no container uses (force: even if stopped containers name it).
    caf::replies_to<volume_atom, remove_atom, std::string, bool>::with<void>,
    /// Removes every volume no container names.
    caf::replies_to<volume_atom, prune_atom>::with<api::removed>,
    /// The VM side of `system info`: accelerator, kernel, transport, counts.
    caf::replies_to<info_atom>::with<api::system_info>,
    /// Stops every running container (berthd's clean stop); answers when all have exited.
    caf::replies_to<shutdown_atom>::with<void>>;

/// The current handle of the vm supervisor (a restarted one has a new handle); null
/// while it is not running.
inline vm_supervisor_actor vm_supervisor_of(caf::actor_system& sys) {
  return sys.registry().get<vm_supervisor_actor>(registry_key(vm_supervisor_name));
}

}  // namespace berth
