// args: Docker-style command line flags: -d, -e K=V, -eK=V, --env K=V, --env=K=V, bundled
// short flags (-it), "--" ends the flags, and for commands like run the first positional
// (the image) ends them too, so the container's own flags pass through untouched.
#pragma once

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace berth::cli {

/// One flag a command accepts.
struct flag {
  std::string name;     ///< Long name without dashes ("env").
  char short_name = 0;  ///< 'e', or 0.
  bool takes_value = false;
  std::string metavar;  ///< For help ("KEY=VALUE").
  std::string help;
};

/// The result of parsing.
struct parsed {
  std::map<std::string, std::vector<std::string>> values;  ///< Long name -> each value given.
  std::vector<std::string> positionals;

  /// Whether a flag was given.
  bool has(const std::string& name) const { return values.count(name) != 0; }
  /// The last value of a flag, or `fallback`.
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = values.find(name);
    return it == values.end() || it->second.empty() ? fallback : it->second.back();
  }
  /// Every value of a repeatable flag.
  std::vector<std::string> all(const std::string& name) const {
    auto it = values.find(name);
    return it == values.end() ? std::vector<std::string>{} : it->second;
  }
};

/// A command line mistake; the message is shown to the user with the command's usage hint.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Parses `args` against `flags`. With `stop_at_positional`, everything from the first
/// positional on is positional. Throws usage_error.
parsed parse(const std::vector<flag>& flags, const std::vector<std::string>& args,
             bool stop_at_positional);

/// The "Options:" block of a command's help.
std::string describe_flags(const std::vector<flag>& flags);

}  // namespace berth::cli
