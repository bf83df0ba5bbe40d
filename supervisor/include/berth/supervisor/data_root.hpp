// data_root: berthd's directories made private before anything is written there.
//
// DATA holds every container's record (environment variables, passwords given with -e among
// them), registry logins and unpacked image trees with their device nodes and setuid files: no
// user but berthd's may enter it. berthd also runs with umask 077, so that every directory and
// file it creates below is private from its first instant; this startup pass narrows what an
// older berthd (DATA 0711, DATA/tmp 0755, berth.db 0644) left behind.
#pragma once

#include <caf/expected.hpp>

#include <filesystem>

namespace berth {

/// Creates the data root, DATA/tmp, DATA/cache and the run root when missing, then narrows
/// modes that are wider than they should be: the data root and each directory directly in it to
/// 0700, each regular file directly in it (berth.db and its -wal and -shm, credentials.json) to
/// 0600, the run root to 0711 (others may reach the API socket in it, which is 0660 and checks
/// its peers, and list nothing) and each directory directly in the run root (a container's
/// sockets) to 0700. Deeper levels are out of reach once their parent is private. Fails with
/// conflict when a root is not owned by berthd's uid (its owner could open it again), and with
/// io when a directory cannot be created or narrowed.
caf::expected<void> secure_roots(const std::filesystem::path& data_root,
                                 const std::filesystem::path& run_root);

}  // namespace berth
