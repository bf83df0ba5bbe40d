// log: the image component's logger, shared by the library and the image actor.
#pragma once

#include "berth/actors/log.hpp"

namespace berth::image {

/// Lines about pulls, imports, unpacking and image disks.
inline constexpr log::logger image_log("image");

}  // namespace berth::image
