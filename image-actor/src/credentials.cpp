// credentials.cpp: DATA/credentials.json (mode 0600, atomic writes) and the read-only fallback to
// a Docker config.json.
#include "berth/image/credentials.hpp"

#include "berth/os/file.hpp"
#include "http.hpp"
#include "util.hpp"

#include <sys/stat.h>

#include <cctype>
#include <cstdlib>

namespace berth::image {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t max_credentials_bytes = 1 << 20;

// The auths object of a config file; an empty object if the file is missing or unreadable.
nlohmann::json read_auths(const fs::path& file) {
  if (file.empty()) return nlohmann::json::object();
  auto text = detail::read_file_limited(file, max_credentials_bytes, file.string());
  if (!text) return nlohmann::json::object();
  auto j = detail::parse_json(*text, max_credentials_bytes, file.string());
  if (!j || !j->is_object()) return nlohmann::json::object();
  auto auths = j->find("auths");
  if (auths == j->end() || !auths->is_object()) return nlohmann::json::object();
  return *auths;
}

std::optional<credential> decode_entry(const nlohmann::json& entry) {
  if (!entry.is_object()) return std::nullopt;
  if (auto a = entry.find("auth");
      a != entry.end() && a->is_string() && !a->get<std::string>().empty()) {
    auto raw = detail::base64_decode(a->get<std::string>());
    if (!raw) return std::nullopt;
    auto colon = raw->find(':');
    if (colon == std::string::npos) return std::nullopt;
    return credential{raw->substr(0, colon), raw->substr(colon + 1)};
  }
  auto u = entry.find("username");
  auto p = entry.find("password");
  if (u != entry.end() && p != entry.end() && u->is_string() && p->is_string())
    return credential{u->get<std::string>(), p->get<std::string>()};
  return std::nullopt;
}

std::optional<credential> find_in(const nlohmann::json& auths, const std::string& key) {
  for (auto& [name, entry] : auths.items()) {
    auto norm = normalize_server(name);
    if (norm && *norm == key)
      if (auto c = decode_entry(entry)) return c;
  }
  return std::nullopt;
}

}  // namespace

caf::expected<std::string> normalize_server(std::string_view server) {
  std::string_view s = server;
  for (std::string_view scheme : {"https://", "http://"})
    if (s.substr(0, scheme.size()) == scheme) s.remove_prefix(scheme.size());
  if (auto slash = s.find('/'); slash != std::string_view::npos) s = s.substr(0, slash);
  std::string host;
  for (char c : s) host.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (host.empty()) return detail::invalid("'{}' names no registry", server.substr(0, 200));
  for (char c : host)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == ':' ||
          c == '[' || c == ']'))
      return detail::invalid("'{}' is not a registry host name", server.substr(0, 200));
  if (host == "index.docker.io" || host == "registry-1.docker.io" ||
      host == "registry.hub.docker.com")
    host = "docker.io";
  return host;
}

credential_store::credential_store(fs::path file, fs::path docker_config)
    : file_(std::move(file)), docker_config_(std::move(docker_config)) {}

fs::path credential_store::default_docker_config() {
  const char* home = std::getenv("HOME");
  if (home == nullptr || *home == '\0') return {};
  return fs::path{home} / ".docker" / "config.json";
}

std::optional<credential> credential_store::get(std::string_view server) const {
  auto key = normalize_server(server);
  if (!key) return std::nullopt;
  if (auto c = find_in(read_auths(file_), *key)) return c;
  return find_in(read_auths(docker_config_), *key);
}

caf::expected<void> credential_store::put(std::string_view server, const credential& cred) const {
  auto key = normalize_server(server);
  if (!key) return key.error();
  auto auths = read_auths(file_);
  auths[*key] = {{"auth", detail::base64_encode(cred.username + ":" + cred.password)}};
  nlohmann::json doc{{"auths", auths}};
  try {
    std::error_code ec;
    fs::create_directories(file_.parent_path(), ec);
    os::write_file_atomic(file_, doc.dump(2) + "\n", 0600);
    // write_file_atomic's mode is filtered by the umask; a login file must never be readable.
    ::chmod(file_.c_str(), 0600);
  } catch (const std::system_error& e) {
    return make_error(errc::io, fmt::format("cannot store the login: {}", e.what()));
  }
  return {};
}

caf::expected<void> credential_store::erase(std::string_view server) const {
  auto key = normalize_server(server);
  if (!key) return key.error();
  auto auths = read_auths(file_);
  bool found = false;
  for (auto i = auths.begin(); i != auths.end();) {
    auto norm = normalize_server(i.key());
    if (norm && *norm == *key) {
      i = auths.erase(i);
      found = true;
    } else {
      ++i;
    }
  }
  if (!found) return make_error(errc::not_found, fmt::format("Not logged in to {}", *key));
  try {
    os::write_file_atomic(file_, nlohmann::json{{"auths", auths}}.dump(2) + "\n", 0600);
  } catch (const std::system_error& e) {
    return make_error(errc::io, fmt::format("cannot store the logins: {}", e.what()));
  }
  return {};
}

}  // namespace berth::image
