// signal: signal names as users give them (kill -s, stop -s, --stop-signal, an image's
// StopSignal), read into numbers in one place for berthd's API server and its vm actors.
#pragma once

#include <string>

namespace berth::os {

/// A signal number from "SIGTERM", "TERM" or "15"; 0 if it is none of them.
int parse_signal(const std::string& text);

}  // namespace berth::os
