// health_flags: the --health-* and --no-healthcheck flags of run and create, read as Docker's
// CLI reads them into a HealthConfig.
#pragma once

#include "args.hpp"

#include "berth/rpc/api.hpp"

#include <vector>

namespace berth::cli {

/// The health flags of run and create, for their help.
std::vector<flag> health_flags();

/// The health check asked for by the flags of `p`: all fields zero (the image's check) when none
/// is given, test ["NONE"] with --no-healthcheck. Throws usage_error for a malformed or negative
/// value, or --no-healthcheck with a --health-* flag.
api::healthcheck healthcheck_from(const parsed& p);

}  // namespace berth::cli
