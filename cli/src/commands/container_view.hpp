// container_view: the container commands that only read: ps, logs, inspect and stats. Their
// entries of the container table; container.cpp places them in it.
#pragma once

#include "command.hpp"

namespace berth::cli {

/// `berth ps`: the list, with Docker's --filter.
command ps_command();
/// `berth logs`: the log of the main process, or the VM's console (--boot).
command logs_command();
/// `berth inspect`: containers as Docker-shaped JSON.
command inspect_command();
/// `berth stats`: CPU, memory, host RSS and I/O, once or every second.
command stats_command();

}  // namespace berth::cli
