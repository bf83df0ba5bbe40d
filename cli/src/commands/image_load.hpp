// image_load: `berth image load`, an OCI archive (a tar, from a file or stdin) or an OCI layout
// directory (tarred here) sent to berthd in chunks. Its entry of the image table.
#pragma once

#include "command.hpp"

namespace berth::cli {

/// `berth image load [-i FILE|DIR]`.
command load_command();

}  // namespace berth::cli
