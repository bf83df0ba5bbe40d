// global_flags.cpp: the flags before the command.
#include "global_flags.hpp"

namespace berth::cli {

global_options parse_global_flags(const std::vector<std::string>& args, const char* env_host) {
  global_options out;
  out.host = env_host && *env_host ? env_host : default_host;
  auto fail = [&](std::string message) {
    out.what = global_options::action::error;
    out.error = std::move(message);
    return out;
  };
  std::size_t i = 0;
  for (; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "-H" || a == "--host") {
      if (i + 1 >= args.size()) return fail("flag needs an argument: " + a);
      out.host = args[++i];
    } else if (a.rfind("--host=", 0) == 0) {
      out.host = a.substr(7);
    } else if (a == "-v" || a == "--version") {
      out.what = global_options::action::version;
      return out;
    } else if (a == "--help" || a == "-h") {
      out.what = global_options::action::help;
      return out;
    } else if (!a.empty() && a[0] == '-') {
      return fail("unknown flag: " + a + "\nSee 'berth --help'.");
    } else {
      break;
    }
  }
  out.command = i;
  if (i >= args.size()) out.what = global_options::action::usage;
  return out;
}

}  // namespace berth::cli
