// reference: image references in the full form Docker prints (`docker pull -q`) and compares
// (`ps --filter ancestor=`). berthd parses and validates references; the CLI only spells out
// the defaults of one it was given: the registry docker.io, the "library/" namespace of
// official images and the tag "latest".
#pragma once

#include <string>

namespace berth::cli {

/// "busybox" -> "docker.io/library/busybox:latest", "user/app:1" -> "docker.io/user/app:1",
/// "localhost:5000/a/b" -> "localhost:5000/a/b:latest", "x@sha256:..." keeps its digest and
/// gets no tag. A reference with an upper-case or empty part is returned as it is.
std::string full_reference(const std::string& ref);

}  // namespace berth::cli
