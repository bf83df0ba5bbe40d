// credentials: registry logins, kept root-only under the data root.
//
// DATA/credentials.json has Docker's config.json shape ({"auths": {"HOST": {"auth":
// base64("user:pass")}}}), mode 0600, written atomically (temporary file, fsync, rename). For
// compatibility, logins missing there are read (never written) from a Docker config.json
// (~/.docker/config.json of the daemon's user: `auths` entries with `auth` or
// `username`/`password`; credential helpers are not run). Server names are normalized first, so
// "https://index.docker.io/v1/", "index.docker.io" and "docker.io" are the same login.
#pragma once

#include <caf/expected.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace berth::image {

/// A user name and password (or token) for one registry.
struct credential {
  std::string username;
  std::string password;
};

/// The key a registry's login is kept under: "docker.io" for Docker Hub, else "host[:port]",
/// without scheme or path; invalid_argument if `server` names no host.
caf::expected<std::string> normalize_server(std::string_view server);

/// Logins on disk (thread-compatible: the image actor serializes writes).
class credential_store {
 public:
  /// A store in `file`, falling back to the Docker config at `docker_config` (empty: none).
  credential_store(std::filesystem::path file, std::filesystem::path docker_config = {});

  /// The login for `server`, from the store or else the Docker config; nullopt if none.
  std::optional<credential> get(std::string_view server) const;

  /// Saves the login for `server` (replacing any); io error if the file cannot be written.
  caf::expected<void> put(std::string_view server, const credential& cred) const;

  /// Forgets the login for `server`; not_found if the store has none.
  caf::expected<void> erase(std::string_view server) const;

  /// The default Docker config of this process's user: $HOME/.docker/config.json.
  static std::filesystem::path default_docker_config();

 private:
  std::filesystem::path file_;
  std::filesystem::path docker_config_;
};

}  // namespace berth::image
