// error: the one exception a command throws to end with a message and an exit code. main.cpp
// prints it as "berth: <message>" and exits with its code, as Docker's CLI does.
#pragma once

#include <stdexcept>
#include <string>

namespace berth::cli {

/// A failure to report as "berth: <message>", and the exit code the command ends with.
struct cli_error : std::runtime_error {
  int code;
  cli_error(int c, const std::string& msg) : std::runtime_error(msg), code(c) {}
};

}  // namespace berth::cli
