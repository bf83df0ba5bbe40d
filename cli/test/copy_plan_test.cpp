// Tests for docker cp's rules in berth cp: which argument is the container, how paths are
// cleaned, and where a file or a directory lands for each kind of destination.
#include "copy_plan.hpp"

#include <catch2/catch.hpp>

using namespace berth::cli;

TEST_CASE(
    "a cp argument names a container only before a colon, and never when it is a local path") {
  auto c = split_cp_arg("web:/etc/hosts");
  CHECK(c.container == "web");
  CHECK(c.path == "/etc/hosts");
  CHECK(split_cp_arg("web:relative").path == "relative");
  CHECK(split_cp_arg("/abs/with:colon").container.empty());
  CHECK(split_cp_arg("./file:name").container.empty());
  CHECK(split_cp_arg("plain").container.empty());
  CHECK(split_cp_arg("web:").container == "web");
  CHECK(split_cp_arg("web:").path.empty());
}

TEST_CASE("paths are cleaned lexically as Go's path.Clean does") {
  CHECK(clean_path("/a/./b/../c/") == "/a/c");
  CHECK(clean_path("") == ".");
  CHECK(clean_path("/..") == "/");
  CHECK(clean_path("../x/..") == "..");
  CHECK(clean_path("a//b") == "a/b");
  CHECK(base_name("/data/dir/") == "dir");
  CHECK(base_name("/") == "/");
  CHECK(dir_name("/data") == "/");
  CHECK(dir_name("file") == ".");
  CHECK(dir_name("/a/b/c") == "/a/b");
  CHECK(join_path("/", "x") == "/x");
  CHECK(join_path("/a", "x") == "/a/x");
}

TEST_CASE("dir/. and a trailing slash are recognized") {
  CHECK(names_contents("dir/."));
  CHECK(names_contents("dir/./"));
  CHECK(names_contents("."));
  CHECK_FALSE(names_contents("dir"));
  CHECK_FALSE(names_contents("dir/.."));
  CHECK(ends_with_separator("dir/"));
  CHECK(ends_with_separator("dir/."));
  CHECK_FALSE(ends_with_separator("dir"));
}

TEST_CASE("a file goes into an existing directory under its own name") {
  auto t = plan_copy("/etc/hosts", false, "/tmp", path_kind::dir);
  CHECK(t.dir == "/tmp");
  CHECK(t.name == "hosts");
}

TEST_CASE("a file replaces an existing file, or becomes a missing destination") {
  auto replace = plan_copy("a.txt", false, "/data/b.txt", path_kind::file);
  CHECK(replace.dir == "/data");
  CHECK(replace.name == "b.txt");
  auto created = plan_copy("a.txt", false, "/data/new.txt", path_kind::missing);
  CHECK(created.dir == "/data");
  CHECK(created.name == "new.txt");
}

TEST_CASE("a file cannot go to a missing destination that names a directory") {
  CHECK_THROWS_AS(plan_copy("a.txt", false, "/nowhere/", path_kind::missing), cp_error);
  CHECK_THROWS_AS(plan_copy("a.txt", false, "/data/file/", path_kind::file), cp_error);
  CHECK_THROWS_AS(plan_copy("a.txt/", false, "/tmp", path_kind::dir), cp_error);
  CHECK_THROWS_AS(plan_copy("a.txt/.", false, "/tmp", path_kind::dir), cp_error);
}

TEST_CASE("a directory goes into an existing directory, or its contents with dir/.") {
  auto into = plan_copy("src/dir", true, "/dst", path_kind::dir);
  CHECK(into.dir == "/dst");
  CHECK(into.name == "dir");
  auto contents = plan_copy("src/dir/.", true, "/dst", path_kind::dir);
  CHECK(contents.dir == "/dst");
  CHECK(contents.name.empty());
  CHECK(plan_copy("/", true, "out", path_kind::dir).name.empty());
}

TEST_CASE("a directory becomes a missing destination and cannot replace a file") {
  auto created = plan_copy("src/dir", true, "/dst/new/", path_kind::missing);
  CHECK(created.dir == "/dst");
  CHECK(created.name == "new");
  CHECK_THROWS_WITH(plan_copy("src/dir", true, "/dst/file", path_kind::file),
                    Catch::Contains("cannot copy a directory to a file"));
}
