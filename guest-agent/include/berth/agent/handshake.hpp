// handshake: the bytes that open every connection between berthd and berth-init.
//
// Each VM has its own agent key: 32 random bytes berthd makes when it launches the VM, keeps in a
// 0600 file of the VM's run directory and gives the guest through QEMU's fw_cfg (the file's path
// is on QEMU's command line, its content is not). Before berth-init serves anything on a new
// connection, the host must send the auth request carrying that key; berth-init compares it in
// constant time and answers with `auth_accepted`, or with `auth_refused` and ends the connection.
// The auth request is an ordinary msgpack-RPC request (id 0, method "auth", [{"key": bin 32}]) in
// one fixed encoding, so both sides read exact byte counts: nothing before the handshake is
// parsed as msgpack. Shared by both sides of the VM boundary; docs/guest-agent.md, "Handshake",
// is the byte-level reference.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace berth::agent {

/// Bytes in an agent key.
constexpr std::size_t agent_key_size = 32;

/// The fw_cfg file that carries the agent key into the guest (`-fw_cfg name=...,file=...`).
constexpr std::string_view agent_key_fw_cfg_name = "opt/berth/agent-key";

/// The 16 bytes of the auth request before the key: array(4), 0 (request), 0 (msgid),
/// str "auth", array(1), map(1), str "key", bin8 of 32 bytes.
inline constexpr char auth_prefix_bytes[] =
    "\x94\x00\x00\xa4"
    "auth\x91\x81\xa3"
    "key\xc4\x20";
constexpr std::string_view auth_prefix{auth_prefix_bytes, sizeof auth_prefix_bytes - 1};
static_assert(auth_prefix.size() == 16);

/// Bytes of the whole auth request: the prefix and the key.
constexpr std::size_t auth_request_size = auth_prefix.size() + agent_key_size;

/// The answer to an accepted key: the msgpack-RPC response [1, 0, nil, {}].
inline constexpr char auth_accepted_bytes[] = "\x94\x01\x00\xc0\x80";
constexpr std::string_view auth_accepted{auth_accepted_bytes, sizeof auth_accepted_bytes - 1};

/// The answer to a refused request: [1, 0, {"code": 15 (unauthorized), "message": "agent key
/// refused"}, nil]. Its first 5 bytes differ from auth_accepted's.
inline constexpr char auth_refused_bytes[] =
    "\x94\x01\x00\x82\xa4"
    "code\x0f\xa7"
    "message\xb1"
    "agent key refused\xc0";
constexpr std::string_view auth_refused{auth_refused_bytes, sizeof auth_refused_bytes - 1};
static_assert(auth_refused.size() == 37);

/// The auth request carrying `key` (agent_key_size bytes).
inline std::string auth_request(std::string_view key) {
  std::string out(auth_prefix);
  out.append(key);
  return out;
}

/// Whether `a` and `b` are equal, in a time that depends only on their sizes.
inline bool equal_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // volatile: the compiler may not stop at the first difference.
  volatile unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff = diff | static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace berth::agent
