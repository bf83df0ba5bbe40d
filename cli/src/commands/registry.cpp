// registry.cpp: `berth registry login` and `logout` (also `berth login`/`logout`): credentials
// berthd keeps for pulls and pushes.
#include "command.hpp"

#include "berth/rpc/api.hpp"

#include <cstdio>
#include <iostream>

namespace berth::cli {

namespace {

int cmd_login(context& ctx, const parsed& p) {
  api::login_request req;
  req.server = p.positionals[0];
  req.username = p.get("username");
  if (p.has("password-stdin")) {
    std::getline(std::cin, req.password);
    while (!req.password.empty() && (req.password.back() == '\n' || req.password.back() == '\r'))
      req.password.pop_back();
  } else {
    req.password = p.get("password");
    if (!req.password.empty())
      std::fprintf(stderr,
                   "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n");
  }
  if (req.username.empty()) throw cli_error(1, "a username is needed (-u USER)");
  if (req.password.empty()) throw cli_error(1, "a password is needed (--password-stdin)");
  try {
    ctx.conn().call<api::empty>(api::method::registry_login, req);
  } catch (const rpc::call_error& e) {
    throw cli_error(1, std::string("login failed: ") + e.what());
  }
  std::printf("Login Succeeded\n");
  return 0;
}

int cmd_logout(context& ctx, const parsed& p) {
  ctx.conn().call<api::empty>(api::method::registry_logout, api::logout_request{p.positionals[0]});
  std::printf("Removing login credentials for %s\n", p.positionals[0].c_str());
  return 0;
}

}  // namespace

std::vector<command> registry_commands() {
  return {
      {"login",
       "[OPTIONS] SERVER",
       "Log in to a registry",
       {{"username", 'u', true, "USER", "Username"},
        {"password", 'p', true, "PASSWORD", "Password (prefer --password-stdin)"},
        {"password-stdin", 0, false, "", "Read the password from stdin"}},
       false,
       1,
       1,
       cmd_login},
      {"logout", "SERVER", "Log out from a registry", {}, false, 1, 1, cmd_logout},
  };
}

}  // namespace berth::cli
