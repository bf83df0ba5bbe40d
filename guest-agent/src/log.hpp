// log: berth-init's log lines, "berth-init: <text>", one write(2) each.
//
// In the VM the lines go to /dev/console, the serial port that the host keeps as the container's
// boot log; on a development host they go to stderr. No allocation-heavy formatting library: the
// agent is a small static binary.
#pragma once

namespace berth::agent {

/// Writes one printf-formatted line with the "berth-init: " prefix to the log descriptor.
void log(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace berth::agent
