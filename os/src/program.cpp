// program.cpp: resolving host programs at fixed absolute paths, once per name.
#include "berth/os/program.hpp"

#include "berth/os/fd.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <memory>
#include <mutex>

namespace berth::os {

const std::string& program_path(std::string_view name) {
  static std::mutex m;
  // Values are heap-allocated so that references handed out stay valid as the map grows.
  static std::map<std::string, std::unique_ptr<const std::string>, std::less<>> found;
  std::lock_guard<std::mutex> guard{m};
  if (auto it = found.find(name); it != found.end()) return *it->second;
  std::string path;
  if (name.find('/') != std::string_view::npos) {
    path = std::string{name};
  } else if (!name.empty()) {
    for (const char* dir : program_dirs) {
      auto candidate = std::string{dir} + "/" + std::string{name};
      struct stat st {};
      if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
          ::access(candidate.c_str(), X_OK) == 0) {
        path = std::move(candidate);
        break;
      }
    }
  }
  if (path.empty()) {
    std::string dirs;
    for (const char* dir : program_dirs) dirs += (dirs.empty() ? "" : ", ") + std::string{dir};
    // A missing program is not remembered: installing it later needs no restart.
    throw sys_error(ENOENT, std::string{name} + " is not installed (looked in " + dirs + ")");
  }
  auto& slot = found[std::string{name}];
  slot = std::make_unique<const std::string>(std::move(path));
  return *slot;
}

}  // namespace berth::os
