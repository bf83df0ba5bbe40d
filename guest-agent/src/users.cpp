// users.cpp: passwd and group parsing, and Docker's user resolution.
#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <optional>

namespace berth::agent {

namespace {

constexpr uint32_t max_id = 0x7fffffff;

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (;;) {
    auto pos = text.find(sep, start);
    if (pos == std::string_view::npos) {
      out.push_back(text.substr(start));
      return out;
    }
    out.push_back(text.substr(start, pos - start));
    start = pos + 1;
  }
}

// A decimal id, or nothing if `text` is not one. Out of range is reported as `range`.
std::optional<uint32_t> parse_id(std::string_view text, bool* range = nullptr) {
  if (text.empty()) return std::nullopt;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (end != text.data() + text.size()) return std::nullopt;
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && value > max_id)) {
    if (range) *range = true;
    return std::nullopt;
  }
  if (ec != std::errc()) return std::nullopt;
  return static_cast<uint32_t>(value);
}

// Calls `fn` with each line that is neither empty nor a comment.
template <class Fn>
void for_each_line(std::string_view text, Fn fn) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    fn(line);
  }
}

[[noreturn]] void invalid(std::string message) {
  throw rpc::call_error(errc::invalid_argument, std::move(message));
}

}  // namespace

std::vector<passwd_entry> parse_passwd(std::string_view text) {
  std::vector<passwd_entry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() < 7 || f[0].empty()) return;
    auto uid = parse_id(f[2]);
    auto gid = parse_id(f[3]);
    if (!uid || !gid) return;
    out.push_back({std::string(f[0]), *uid, *gid, std::string(f[5]), std::string(f[6])});
  });
  return out;
}

std::vector<group_entry> parse_group(std::string_view text) {
  std::vector<group_entry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() < 4 || f[0].empty()) return;
    auto gid = parse_id(f[2]);
    if (!gid) return;
    group_entry g{std::string(f[0]), *gid, {}};
    if (!f[3].empty())
      for (auto m : split(f[3], ','))
        if (!m.empty()) g.members.emplace_back(m);
    out.push_back(std::move(g));
  });
  return out;
}

identity resolve_user(std::string_view spec, const std::vector<passwd_entry>& passwd,
                      const std::vector<group_entry>& groups) {
  std::string_view user_arg = spec;
  std::string_view group_arg;
  bool explicit_group = false;
  if (auto colon = spec.find(':'); colon != std::string_view::npos) {
    user_arg = spec.substr(0, colon);
    group_arg = spec.substr(colon + 1);
    explicit_group = true;
  }
  if (user_arg.empty()) user_arg = "0";

  identity who;
  std::string user_name;
  bool range = false;
  auto uid = parse_id(user_arg, &range);
  if (range) invalid("uid " + std::string(user_arg) + " is out of range");
  const passwd_entry* entry = nullptr;
  for (const auto& p : passwd) {
    if (p.name == user_arg || (uid && p.uid == *uid)) {
      entry = &p;
      break;
    }
  }
  if (entry) {
    who.uid = entry->uid;
    who.gid = entry->gid;
    user_name = entry->name;
    if (!entry->home.empty()) who.home = entry->home;
  } else if (uid) {
    who.uid = *uid;
  } else {
    invalid("unable to find user " + std::string(user_arg) +
            ": no matching entries in passwd file");
  }

  if (explicit_group) {
    if (group_arg.empty()) invalid("user " + std::string(spec) + " names an empty group");
    bool grange = false;
    auto gid = parse_id(group_arg, &grange);
    if (grange) invalid("gid " + std::string(group_arg) + " is out of range");
    const group_entry* match = nullptr;
    for (const auto& g : groups) {
      if (g.name == group_arg || (gid && g.gid == *gid)) {
        match = &g;
        break;
      }
    }
    if (match)
      who.gid = match->gid;
    else if (gid)
      who.gid = *gid;
    else
      invalid("unable to find group " + std::string(group_arg) +
              ": no matching entries in group file");
  }

  who.groups.push_back(who.gid);
  if (!user_name.empty()) {
    for (const auto& g : groups) {
      bool member = false;
      for (const auto& m : g.members) member = member || m == user_name;
      if (!member) continue;
      bool seen = false;
      for (auto id : who.groups) seen = seen || id == g.gid;
      if (!seen) who.groups.push_back(g.gid);
    }
  }
  return who;
}

namespace {

std::string read_all(int fd) {
  std::string out;
  if (fd < 0) return out;
  char buf[4096];
  for (;;) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

}  // namespace

std::string read_file(const std::string& path) {
  return read_all(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
}

std::string read_file_in(const std::string& root, const std::string& path) {
  int dir = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return {};
  auto rel = path;
  while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
  open_how how{};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT;
  int fd = static_cast<int>(::syscall(SYS_openat2, dir, rel.c_str(), &how, sizeof how));
  // Kernels before 5.6 have no openat2; the container's files are then read as they are.
  if (fd < 0 && errno == ENOSYS) fd = ::open((root + "/" + rel).c_str(), O_RDONLY | O_CLOEXEC);
  ::close(dir);
  return read_all(fd);
}

identity resolve_user_in(const std::string& root, std::string_view spec) {
  auto passwd = parse_passwd(read_file_in(root, "etc/passwd"));
  auto groups = parse_group(read_file_in(root, "etc/group"));
  return resolve_user(spec, passwd, groups);
}

}  // namespace berth::agent
