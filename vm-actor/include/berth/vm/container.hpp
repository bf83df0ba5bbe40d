// container: turning what `berth run` asked for and what the image says into a container.
//
// Docker's rules: --entrypoint replaces the image's Entrypoint and clears its Cmd; arguments
// after the image replace Cmd; -e overrides the image's Env by key; -w and -u override
// WorkingDir and User; PATH and HOSTNAME get defaults. Pure functions, unit-tested.
#pragma once

#include "berth/actors/records.hpp"
#include "berth/actors/vocabulary.hpp"
#include "berth/os/signal.hpp"
#include "berth/rpc/api.hpp"

#include <caf/expected.hpp>

#include <string>
#include <vector>

namespace berth::vm {

/// PATH for a process whose image and flags set none.
inline constexpr const char* default_path =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The main process of a container with id `id`, from its image and the create request.
caf::expected<agent::process_spec> resolve_process(const image_runtime& image,
                                                   const api::container_spec& spec,
                                                   const std::string& id);

/// Whether `name` is a valid container name: [a-zA-Z0-9][a-zA-Z0-9_.-]*, at most 128 characters.
bool valid_name(const std::string& name);

/// A readable random name ("brave_turing") for containers created without --name.
std::string random_name();

// parse_signal lives in berth::os; vm_actor.cpp still calls it unqualified.
using os::parse_signal;

}  // namespace berth::vm
