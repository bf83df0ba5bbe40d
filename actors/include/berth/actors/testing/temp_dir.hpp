// temp_dir: a fresh directory under /tmp for one test, removed with everything in it at the end.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace berth::testing {

/// A directory named /tmp/<prefix>.XXXXXX that lives as long as the object.
struct temp_dir {
  std::filesystem::path path;
  explicit temp_dir(std::string prefix = "berth-test") {
    std::string tmpl = "/tmp/" + prefix + ".XXXXXX";
    path = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace berth::testing
