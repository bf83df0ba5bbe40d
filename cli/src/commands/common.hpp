// common: small helpers the commands of several resources share: ids as `ps` shows them, the
// daemon's errors per name as Docker reports them, prune's confirmation and its report.
#pragma once

#include "args.hpp"

#include "berth/rpc/api.hpp"
#include "berth/rpc/client.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace berth::cli {

/// An id without its "sha256:" and cut to 12 characters, as `ps` and `images` show ids.
std::string short_id(const std::string& id);

/// Unix time now, in nanoseconds.
int64_t now_ns();

/// Exit code of run, create, start and exec for a daemon error, as docker run's: 127 when the
/// command was not found, 126 when it could not be executed, else 125.
int run_exit_code(const rpc::call_error& e);

/// Calls `fn` for every name; a daemon error is printed as "Error response from daemon: ..."
/// and the rest still run. 0 when every call worked, else 1.
int for_each_name(const std::vector<std::string>& names,
                  const std::function<void(const std::string&)>& fn);

/// Prints the JSON array of `fn` over every name (indented by 4, as docker inspect); a name the
/// daemon does not know is printed as "Error: ..." on stderr. 0 when all were found, else 1.
int inspect_each(const std::vector<std::string>& names,
                 const std::function<nlohmann::json(const std::string&)>& fn);

/// Prints `list` as -q asks (`id_of` of each, a line each) or as --format json does (an array
/// of `json_of` of each, indented by 2); true when it did, false when the caller's table is
/// wanted.
template <class T, class IdOf, class JsonOf>
bool print_quiet_or_json(const parsed& p, const std::vector<T>& list, IdOf id_of, JsonOf json_of) {
  if (p.has("quiet")) {
    for (auto& item : list) std::printf("%s\n", std::string(id_of(item)).c_str());
    return true;
  }
  if (p.get("format") != "json") return false;
  auto out = nlohmann::json::array();
  for (auto& item : list) out.push_back(json_of(item));
  std::printf("%s\n", out.dump(2).c_str());
  return true;
}

/// Asks `question` and whether to continue, unless -f/--force was given.
bool confirm(const parsed& p, const char* question);

/// Prints what a prune removed, as Docker does; returns 0.
int print_removed(const api::removed& r, const char* what);

}  // namespace berth::cli
