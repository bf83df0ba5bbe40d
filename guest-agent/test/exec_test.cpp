// Tests for execvp's PATH lookup done by hand and for the errors a failed exec becomes.
#include "exec.hpp"

#include <catch2/catch.hpp>

#include <cerrno>

using namespace berth;
using namespace berth::agent;

TEST_CASE("a command with a slash is tried as it is") {
  CHECK(exec_candidates("/bin/sh", {"PATH=/usr/bin"}) == std::vector<std::string>{"/bin/sh"});
  CHECK(exec_candidates("./run", {}) == std::vector<std::string>{"./run"});
}

TEST_CASE("a bare command is looked up in the PATH of the given environment") {
  CHECK(exec_candidates("ls", {"HOME=/", "PATH=/a:/b/"}) ==
        std::vector<std::string>{"/a/ls", "/b/ls"});
  CHECK(exec_candidates("ls", {"PATH=/a::/c"}) ==
        std::vector<std::string>{"/a/ls", "./ls", "/c/ls"});
  CHECK(exec_candidates("ls", {"PATH="}) == std::vector<std::string>{"./ls"});
}

TEST_CASE("without PATH in the environment the default PATH is used") {
  auto c = exec_candidates("ls", {"PATHX=/nope", "XPATH=/nope"});
  REQUIRE(c.size() == 6);
  CHECK(c.front() == "/usr/local/sbin/ls");
  CHECK(c.back() == "/bin/ls");
}

TEST_CASE("the first PATH entry of the environment wins") {
  CHECK(exec_candidates("ls", {"PATH=/first", "PATH=/second"}) ==
        std::vector<std::string>{"/first/ls"});
}

TEST_CASE("find_env matches whole keys only") {
  std::vector<std::string> env{"HOMEDIR=/x", "HOME=/y", "HOME"};
  REQUIRE(find_env(env, "HOME"));
  CHECK(*find_env(env, "HOME") == "HOME=/y");
  CHECK_FALSE(find_env(env, "HOM"));
}

TEST_CASE("exec failures map to exec_not_found and exec_denied with Docker's messages") {
  auto searched = exec_failure("nosuch", true, ENOENT);
  CHECK(searched.code() == errc::exec_not_found);
  CHECK(std::string(searched.what()) == "exec: \"nosuch\": executable file not found in $PATH");
  auto path = exec_failure("/nosuch", false, ENOENT);
  CHECK(path.code() == errc::exec_not_found);
  CHECK(std::string(path.what()) == "exec: \"/nosuch\": no such file or directory");
  for (int err : {EACCES, EPERM, EISDIR}) {
    auto denied = exec_failure("/etc", false, err);
    CHECK(denied.code() == errc::exec_denied);
    CHECK(std::string(denied.what()) == "exec: \"/etc\": permission denied");
  }
  auto format = exec_failure("/bin/data", false, ENOEXEC);
  CHECK(format.code() == errc::exec_denied);
  CHECK(std::string(format.what()) == "exec: \"/bin/data\": exec format error");
  CHECK(exec_failure("/x", false, E2BIG).code() == errc::invalid_argument);
  CHECK(exec_failure("/x", false, ENOMEM).code() == errc::internal);
}
