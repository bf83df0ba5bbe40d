// peer.cpp: reading a unix socket peer's credentials and deciding whether berthd serves it.
#include "api/peer.hpp"

#include <grp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

namespace berth::api_server {

namespace {

// The supplementary groups of a live process, from /proc (for kernels without SO_PEERGROUPS).
// The process must still have the uid it connected with, or its pid may have been reused.
std::optional<std::vector<gid_t>> proc_groups(pid_t pid, uid_t uid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  std::optional<std::vector<gid_t>> groups;
  bool same_uid = false;
  while (std::getline(in, line)) {
    std::istringstream fields(line.substr(line.find(':') + 1));
    if (line.rfind("Uid:", 0) == 0) {
      uid_t real = 0;
      fields >> real;
      same_uid = fields && real == uid;
    } else if (line.rfind("Groups:", 0) == 0) {
      groups.emplace();
      gid_t g;
      while (fields >> g) groups->push_back(g);
    }
  }
  if (!same_uid) return std::nullopt;
  return groups;
}

}  // namespace

std::optional<peer_credentials> peer_of(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
    return std::nullopt;
  peer_credentials peer{cred.pid, cred.uid, cred.gid, {}};
  std::vector<gid_t> groups(64);
  for (;;) {
    socklen_t size = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &size) == 0) {
      groups.resize(size / sizeof(gid_t));
      peer.groups = std::move(groups);
      return peer;
    }
    if (errno == ERANGE && groups.size() < 65536) {
      groups.resize(std::max<std::size_t>(size / sizeof(gid_t), groups.size() * 2));
      continue;
    }
    break;
  }
  if (auto from_proc = proc_groups(cred.pid, cred.uid)) peer.groups = std::move(*from_proc);
  return peer;
}

bool admitted(const access_policy& policy, const peer_credentials& peer) {
  if (peer.uid == 0 || peer.uid == policy.owner) return true;
  if (!policy.group) return false;
  if (peer.gid == *policy.group) return true;
  for (auto g : peer.groups)
    if (g == *policy.group) return true;
  return false;
}

std::string refusal(const access_policy& policy, const peer_credentials& peer) {
  std::string who = policy.owner == 0 ? "root" : "root and uid " + std::to_string(policy.owner);
  if (policy.group) who += " and members of group " + policy.group_name;
  return "permission denied: berthd serves only " + who + " (this client is uid " +
         std::to_string(peer.uid) + ")";
}

std::optional<access_policy> make_policy(const std::string& group, std::string& error) {
  access_policy policy;
  policy.owner = ::geteuid();
  auto name = group.empty() ? std::string("berth") : group;
  std::vector<char> buf(16384);
  ::group* found = nullptr;
  ::group entry{};
  int rc = ::getgrnam_r(name.c_str(), &entry, buf.data(), buf.size(), &found);
  if (rc == 0 && found) {
    policy.group = found->gr_gid;
    policy.group_name = name;
  } else if (!group.empty()) {
    error = "no group named " + group + " (--group)";
    return std::nullopt;
  }
  return policy;
}

}  // namespace berth::api_server
