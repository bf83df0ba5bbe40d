// common.cpp: helpers shared by the commands of several resources.
#include "commands/common.hpp"

#include "format.hpp"

#include <chrono>
#include <cstdio>
#include <iostream>

namespace berth::cli {

std::string short_id(const std::string& id) {
  auto s = id.rfind("sha256:", 0) == 0 ? id.substr(7) : id;
  return s.substr(0, 12);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int run_exit_code(const rpc::call_error& e) {
  if (e.code() == errc::exec_not_found) return 127;
  if (e.code() == errc::exec_denied) return 126;
  return 125;
}

int for_each_name(const std::vector<std::string>& names,
                  const std::function<void(const std::string&)>& fn) {
  int rc = 0;
  for (auto& name : names) {
    try {
      fn(name);
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error response from daemon: %s\n", e.what());
      rc = 1;
    }
  }
  return rc;
}

int inspect_each(const std::vector<std::string>& names,
                 const std::function<nlohmann::json(const std::string&)>& fn) {
  auto out = nlohmann::json::array();
  int rc = 0;
  for (auto& name : names) {
    try {
      out.push_back(fn(name));
    } catch (const rpc::call_error& e) {
      std::fprintf(stderr, "Error: %s\n", e.what());
      rc = 1;
    }
  }
  std::printf("%s\n", out.dump(4).c_str());
  return rc;
}

bool confirm(const parsed& p, const char* question) {
  if (p.has("force")) return true;
  std::printf("%s Are you sure you want to continue? [y/N] ", question);
  std::fflush(stdout);
  std::string answer;
  std::getline(std::cin, answer);
  return answer == "y" || answer == "Y" || answer == "yes";
}

int print_removed(const api::removed& r, const char* what) {
  for (auto& u : r.untagged) std::printf("Untagged: %s\n", u.c_str());
  if (!r.deleted.empty()) {
    std::printf("Deleted %s:\n", what);
    for (auto& d : r.deleted) std::printf("%s\n", d.c_str());
  }
  std::printf("\nTotal reclaimed space: %s\n", human_size(r.reclaimed).c_str());
  return 0;
}

}  // namespace berth::cli
