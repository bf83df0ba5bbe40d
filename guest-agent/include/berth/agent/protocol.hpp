// protocol: the calls berthd makes to berth-init, the guest agent that is PID 1 in every VM.
//
// Plain structs shared by both sides of the VM boundary. They carry MSGPACK_DEFINE_MAP for the
// wire; actors/vocabulary.hpp adds inspect() so the host's actors can pass them around too.
// No CAF here: berth-init is a small static binary. docs/guest-agent.md is the reference.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

namespace berth::agent {

/// Version of this protocol; berthd refuses an agent that speaks another.
constexpr uint32_t protocol_version = 1;

/// Name of the virtio-serial port the agent serves on (`/sys/class/virtio-ports/*/name`).
constexpr std::string_view serial_port_name = "berth.agent";

/// AF_VSOCK port the agent listens on when the host has vhost-vsock.
constexpr uint32_t vsock_port = 1024;

/// Method names, requests from berthd to the agent.
namespace method {
constexpr std::string_view version = "version";      ///< version_request -> version_info
constexpr std::string_view ping = "ping";            ///< empty -> empty
constexpr std::string_view mount_root = "mount_root";  ///< mount_spec -> empty
constexpr std::string_view start = "start";          ///< process_spec -> process_started
constexpr std::string_view wait = "wait";            ///< process_ref -> exit_status
constexpr std::string_view signal = "signal";        ///< signal_request -> empty
constexpr std::string_view shutdown = "shutdown";    ///< empty -> empty, then power off
}  // namespace method

/// Notification names, from the agent to berthd.
namespace notice {
constexpr std::string_view output = "output";  ///< output_chunk
constexpr std::string_view exit = "exit";      ///< exit_status
}  // namespace notice

/// An argument or result without fields.
struct empty {
  template <class Packer>
  void msgpack_pack(Packer& pk) const { pk.pack_map(0); }
  void msgpack_unpack(const msgpack::object&) {}
};

/// Argument of `version`: the host's clock, so the guest starts with the right time.
struct version_request {
  int64_t host_time_ns = 0;  ///< Unix time on the host; 0 leaves the guest clock alone.
  MSGPACK_DEFINE_MAP(host_time_ns);
};

/// Result of `version`.
struct version_info {
  std::string agent;            ///< berth-init's version string.
  uint32_t protocol = 0;        ///< protocol_version of the agent.
  std::string kernel;           ///< uname -r of the guest.
  std::string transport;        ///< "virtio-serial" or "vsock".
  uint64_t uptime_ms = 0;       ///< Guest uptime when the call was answered.
  MSGPACK_DEFINE_MAP(agent, protocol, kernel, transport, uptime_ms);
};

/// Argument of `mount_root`: which disks make the container's root filesystem.
///
/// The image disk (erofs, read-only) is the lower layer; the container's own disk (ext4) holds
/// the upper and work directories of an overlayfs. Disks are found by their virtio serial.
struct mount_spec {
  std::string image_serial = "image";  ///< Serial of the erofs image disk.
  std::string disk_serial = "rootfs";  ///< Serial of the container's ext4 disk.
  MSGPACK_DEFINE_MAP(image_serial, disk_serial);
};

/// Argument of `start`: one process to run in the container's root filesystem.
struct process_spec {
  std::string id;                 ///< Name chosen by the host, unique in this VM ("main").
  std::vector<std::string> args;  ///< argv; args[0] is looked up in env's PATH unless it has '/'.
  std::vector<std::string> env;   ///< "KEY=VALUE" entries, passed as they are (HOME is added).
  std::string cwd = "/";          ///< Working directory, created if missing.
  std::string user;               ///< "", "uid", "uid:gid", "name" or "name:group".
  std::string hostname;           ///< Set as the VM's hostname when not empty.
  MSGPACK_DEFINE_MAP(id, args, env, cwd, user, hostname);
};

/// Result of `start`.
struct process_started {
  int64_t pid = 0;  ///< Guest pid of the process.
  MSGPACK_DEFINE_MAP(pid);
};

/// Argument of `wait`: names a process.
struct process_ref {
  std::string id;
  MSGPACK_DEFINE_MAP(id);
};

/// Argument of `signal`.
struct signal_request {
  std::string id;
  int32_t signal = 15;
  MSGPACK_DEFINE_MAP(id, signal);
};

/// Result of `wait` and payload of the `exit` notification.
struct exit_status {
  std::string id;
  int32_t exit_code = 0;  ///< The exit status, or 128 + signal when a signal ended the process.
  int32_t signal = 0;     ///< The signal that ended the process, 0 if it exited.
  MSGPACK_DEFINE_MAP(id, exit_code, signal);
};

/// Payload of the `output` notification: bytes a process wrote to stdout (1) or stderr (2).
struct output_chunk {
  std::string id;
  uint8_t fd = 1;
  std::vector<char> data;
  MSGPACK_DEFINE_MAP(id, fd, data);
};

}  // namespace berth::agent
