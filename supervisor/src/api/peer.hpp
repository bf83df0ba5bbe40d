// peer: who may talk to berthd. Every connection's peer is read from the kernel (SO_PEERCRED
// and SO_PEERGROUPS, the credentials the peer had when it connected) and admitted only if it is
// root, berthd's own user, or a member of the group the administrator chose (`berthd --group`;
// by default a group named `berth` if one exists). The socket file's mode says the same to the
// filesystem; this check holds even where the file's mode or owner were changed. Private to
// berthd.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace berth::api_server {

/// The credentials of the process at the other end of a unix socket, as it connected.
struct peer_credentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  ///< Supplementary groups.
};

/// Who berthd serves besides root.
struct access_policy {
  uid_t owner = 0;             ///< berthd's own effective uid.
  std::optional<gid_t> group;  ///< Members of this group (primary or supplementary).
  std::string group_name;      ///< Its name, for messages.
};

/// The peer of the connected unix socket `fd`; nullopt if the kernel cannot say.
std::optional<peer_credentials> peer_of(int fd);

/// Whether `peer` may use berthd under `policy`.
bool admitted(const access_policy& policy, const peer_credentials& peer);

/// The answer a refused peer gets, naming who berthd serves.
std::string refusal(const access_policy& policy, const peer_credentials& peer);

/// The policy for `--group NAME` (empty: the group `berth` if it exists, else none); an error
/// text if a named group does not exist.
std::optional<access_policy> make_policy(const std::string& group, std::string& error);

}  // namespace berth::api_server
