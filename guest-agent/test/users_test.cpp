// Tests for passwd and group parsing and Docker's rules for the `user` of a process.
#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace berth;
using namespace berth::agent;

namespace {

const char* passwd_text =
    "# a comment\n"
    "root:x:0:0:root:/root:/bin/sh\n"
    "\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    "broken line\n"
    "bad:x:notanumber:0::/:/bin/sh\n"
    "app:x:1000:1000::/home/app:/bin/sh\r\n"
    "nohome:x:2000:2000:::/bin/sh\n";

const char* group_text =
    "root:x:0:\n"
    "staff:x:50:app,other\n"
    "app:x:1000:\n"
    "wheel:x:10:,app,\n"
    "garbage\n"
    "nogroup:x:65534:\n";

errc code_of(std::string_view spec) {
  try {
    resolve_user(spec, parse_passwd(passwd_text), parse_group(group_text));
  } catch (const rpc::call_error& e) {
    return e.code();
  }
  return errc::none;
}

}  // namespace

TEST_CASE("passwd parsing keeps well-formed entries and skips the rest") {
  auto entries = parse_passwd(passwd_text);
  REQUIRE(entries.size() == 4);
  CHECK(entries[0].name == "root");
  CHECK(entries[0].home == "/root");
  CHECK(entries[2].name == "app");
  CHECK(entries[2].uid == 1000);
  CHECK(entries[2].gid == 1000);
  CHECK(entries[2].home == "/home/app");
  CHECK(entries[2].shell == "/bin/sh");
  CHECK(entries[3].home.empty());
}

TEST_CASE("group parsing reads member lists") {
  auto groups = parse_group(group_text);
  REQUIRE(groups.size() == 5);
  CHECK(groups[1].name == "staff");
  CHECK(groups[1].gid == 50);
  CHECK(groups[1].members == std::vector<std::string>{"app", "other"});
  CHECK(groups[2].members.empty());
  CHECK(groups[3].members == std::vector<std::string>{"app"});
}

TEST_CASE("an empty user is root with root's home") {
  auto who = resolve_user("", parse_passwd(passwd_text), parse_group(group_text));
  CHECK(who.uid == 0);
  CHECK(who.gid == 0);
  CHECK(who.groups == std::vector<uint32_t>{0});
  CHECK(who.home == "/root");
}

TEST_CASE("an empty user without any passwd file is uid 0, gid 0 and home /") {
  auto who = resolve_user("", {}, {});
  CHECK(who.uid == 0);
  CHECK(who.gid == 0);
  CHECK(who.home == "/");
}

TEST_CASE("a user name gives its passwd entry and the groups that list it") {
  auto who = resolve_user("app", parse_passwd(passwd_text), parse_group(group_text));
  CHECK(who.uid == 1000);
  CHECK(who.gid == 1000);
  CHECK(who.groups == std::vector<uint32_t>{1000, 50, 10});
  CHECK(who.home == "/home/app");
}

TEST_CASE("a numeric user matches a passwd entry by uid, or stands alone with gid 0") {
  auto p = parse_passwd(passwd_text);
  auto g = parse_group(group_text);
  auto known = resolve_user("1000", p, g);
  CHECK(known.gid == 1000);
  CHECK(known.home == "/home/app");
  CHECK(known.groups == std::vector<uint32_t>{1000, 50, 10});
  auto alone = resolve_user("1234", p, g);
  CHECK(alone.uid == 1234);
  CHECK(alone.gid == 0);
  CHECK(alone.groups == std::vector<uint32_t>{0});
  CHECK(alone.home == "/");
}

TEST_CASE("an entry without a home directory gets /") {
  auto who = resolve_user("nohome", parse_passwd(passwd_text), {});
  CHECK(who.home == "/");
}

TEST_CASE("user:group takes the group by name or number") {
  auto p = parse_passwd(passwd_text);
  auto g = parse_group(group_text);
  auto named = resolve_user("app:staff", p, g);
  CHECK(named.uid == 1000);
  CHECK(named.gid == 50);
  CHECK(named.groups.front() == 50);
  auto by_gid = resolve_user("app:10", p, g);
  CHECK(by_gid.gid == 10);
  auto unlisted = resolve_user("1234:4321", p, g);
  CHECK(unlisted.uid == 1234);
  CHECK(unlisted.gid == 4321);
  auto root_staff = resolve_user(":staff", p, g);
  CHECK(root_staff.uid == 0);
  CHECK(root_staff.gid == 50);
}

TEST_CASE("unknown names and out-of-range numbers are invalid arguments") {
  CHECK(code_of("ghost") == errc::invalid_argument);
  CHECK(code_of("app:ghosts") == errc::invalid_argument);
  CHECK(code_of("app:") == errc::invalid_argument);
  CHECK(code_of("99999999999") == errc::invalid_argument);
  CHECK(code_of("1:99999999999") == errc::invalid_argument);
  CHECK(code_of("-1") == errc::invalid_argument);
  try {
    resolve_user("ghost", {}, {});
    FAIL("no error");
  } catch (const rpc::call_error& e) {
    CHECK(std::string(e.what()) == "unable to find user ghost: no matching entries in passwd file");
  }
}

TEST_CASE("the files are read inside the root, and missing files count as empty") {
  namespace fs = std::filesystem;
  char tmpl[] = "/tmp/berth-users-test.XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  fs::path root = tmpl;
  CHECK(resolve_user_in(root.string(), "42").gid == 0);
  CHECK_THROWS_AS(resolve_user_in(root.string(), "app"), rpc::call_error);
  fs::create_directories(root / "etc");
  fs::create_directories(root / "data");
  std::ofstream(root / "data/passwd") << "app:x:1000:77::/home/app:/bin/sh\n";
  // An absolute symlink is resolved inside the root, as the container would see it.
  fs::create_symlink("/data/passwd", root / "etc/passwd");
  CHECK(resolve_user_in(root.string(), "app").gid == 77);
  fs::remove_all(root);
}
