// copy: `berth cp`, files between the host and a running container, with docker cp's rules.
//
// The CLI does the walking and the tar work; berthd only relays one bounded call per chunk to
// the container's guest agent (container.file.stat/list/read/write/mkdir/symlink/set_times,
// docs/protocol.md), so a large file is never held anywhere in between: the CLI's pace is the
// flow control. Copies out are written with libarchive (to disk with its ARCHIVE_EXTRACT_SECURE_*
// checks, so nothing lands outside the destination, or as a tar stream to stdout); a tar stream
// on stdin is read with libarchive and its entries are created in the container.
// The container's side is hostile: a copy out never writes setuid or setgid bits, device nodes
// or extended attributes on the host, and is refused past copy_limits (bytes, entries, depth).
#pragma once

#include "copy_plan.hpp"

#include "berth/rpc/client.hpp"

#include <string>

namespace berth::cli {

/// What `berth cp` was asked.
struct cp_request {
  std::string src;           ///< "CONTAINER:PATH", a local path, or "-" (a tar on stdin).
  std::string dest;          ///< Likewise; "-" writes a tar to stdout.
  bool archive = false;      ///< -a: keep uid and gid (otherwise root in the container, the
                             ///< caller on the host).
  bool follow_link = false;  ///< -L: copy what a source symlink points to.
  copy_limits limits;        ///< What a copy out may bring (--max-size/entries/depth).
};

/// Runs the copy; throws cp_error (copy_plan.hpp) or rpc::call_error.
void run_cp(rpc::client& c, const cp_request& req);

}  // namespace berth::cli
