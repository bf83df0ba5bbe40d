// container.cpp: process resolution and names.
#include "berth/vm/container.hpp"

#include "berth/os/random.hpp"

#include <cctype>

namespace berth::vm {

namespace {

std::string env_key(const std::string& entry) {
  return entry.substr(0, entry.find('='));
}

// Sets or replaces KEY=... in env, keeping the first position of the key.
void set_env(std::vector<std::string>& env, const std::string& entry) {
  auto key = env_key(entry);
  for (auto& e : env)
    if (env_key(e) == key) {
      e = entry;
      return;
    }
  env.push_back(entry);
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
  for (auto& e : env)
    if (env_key(e) == key) return true;
  return false;
}

}  // namespace

caf::expected<agent::process_spec> resolve_process(const image_runtime& image,
                                                   const api::container_spec& spec,
                                                   const std::string& id) {
  agent::process_spec p;
  p.id = "main";
  std::vector<std::string> entrypoint = spec.entrypoint_set ? spec.entrypoint : image.entrypoint;
  // An empty --entrypoint "" means "no entrypoint".
  if (spec.entrypoint_set && entrypoint.size() == 1 && entrypoint[0].empty()) entrypoint.clear();
  std::vector<std::string> cmd;
  if (!spec.cmd.empty())
    cmd = spec.cmd;
  else if (!spec.entrypoint_set)
    cmd = image.cmd;
  p.args = entrypoint;
  p.args.insert(p.args.end(), cmd.begin(), cmd.end());
  if (p.args.empty())
    return make_error(errc::invalid_argument,
                      "no command specified: the image has no Entrypoint "
                      "or Cmd, give one after the image name");
  p.hostname = spec.hostname.empty() ? id.substr(0, 12) : spec.hostname;
  if (p.hostname.size() > 64)
    return make_error(errc::invalid_argument, "hostname longer than 64 characters");
  for (auto& e : image.env) set_env(p.env, e);
  for (auto& e : spec.env) {
    if (e.empty() || e[0] == '=')
      return make_error(errc::invalid_argument, "invalid environment variable: \"" + e + "\"");
    if (e.find('=') == std::string::npos) continue;  // KEY without a value: unset, as in Docker
    set_env(p.env, e);
  }
  if (!has_env(p.env, "PATH")) p.env.insert(p.env.begin(), std::string("PATH=") + default_path);
  if (!has_env(p.env, "HOSTNAME")) p.env.push_back("HOSTNAME=" + p.hostname);
  p.cwd = !spec.workdir.empty() ? spec.workdir : !image.workdir.empty() ? image.workdir : "/";
  if (p.cwd[0] != '/')
    return make_error(errc::invalid_argument, "the working directory '" + p.cwd +
                                                  "' is invalid, it needs to be an absolute path");
  p.user = !spec.user.empty() ? spec.user : image.user;
  return p;
}

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

std::string random_name() {
  static constexpr const char* adjectives[] = {
      "brave", "calm",  "eager", "fond",   "gentle", "happy",  "keen",  "lucid", "merry", "noble",
      "proud", "quiet", "sharp", "steady", "swift",  "tender", "vivid", "wise",  "bold",  "clever"};
  static constexpr const char* names[] = {"hopper",  "turing",   "lovelace", "dijkstra", "knuth",
                                          "ritchie", "thompson", "liskov",   "hamilton", "shannon",
                                          "noether", "curie",    "lamport",  "backus",   "kay",
                                          "allen",   "wirth",    "torvalds", "cerf",     "perlman"};
  auto r = os::random_hex(4);
  auto v = std::stoul(r, nullptr, 16);
  return std::string(adjectives[v % std::size(adjectives)]) + "_" +
         names[(v / 97) % std::size(names)];
}

}  // namespace berth::vm
