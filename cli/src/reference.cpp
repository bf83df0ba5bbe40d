// reference.cpp: filling in the defaults of an image reference.
#include "reference.hpp"

#include <algorithm>

namespace berth::cli {

std::string full_reference(const std::string& ref) {
  if (ref.empty()) return ref;
  auto at = ref.find('@');
  std::string name = ref.substr(0, at);
  std::string digest = at == std::string::npos ? std::string() : ref.substr(at);
  // The first part is a registry when it looks like a host: a dot, a port or "localhost".
  std::string domain = "docker.io";
  std::string path = name;
  if (auto slash = name.find('/'); slash != std::string::npos) {
    auto first = name.substr(0, slash);
    if (first.find_first_of(".:") != std::string::npos || first == "localhost") {
      domain = first == "index.docker.io" ? "docker.io" : first;
      path = name.substr(slash + 1);
    }
  }
  if (path.empty() ||
      std::any_of(path.begin(), path.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    return ref;
  if (domain == "docker.io" && path.find('/') == std::string::npos) path = "library/" + path;
  auto last_slash = path.rfind('/');
  bool tagged =
      path.find(':', last_slash == std::string::npos ? 0 : last_slash) != std::string::npos;
  if (!tagged && digest.empty()) path += ":latest";
  return domain + "/" + path + digest;
}

}  // namespace berth::cli
