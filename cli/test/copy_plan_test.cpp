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

TEST_CASE("a file copied out of a container loses setuid and setgid and keeps its other bits") {
  CHECK(host_mode(04755) == 0755);
  CHECK(host_mode(02755) == 0755);
  CHECK(host_mode(06777) == 0777);
  CHECK(host_mode(01777) == 01777);  // sticky stays: it grants nothing
  CHECK(host_mode(0640) == 0640);
}

TEST_CASE("a copy out of a container is refused past its bytes, entries or depth") {
  copy_limits lim;
  lim.max_bytes = 1000;
  lim.max_entries = 3;
  lim.max_depth = 2;
  copy_budget b(lim);
  b.entry("a", 0);
  b.entry("a/b", 1);
  CHECK_THROWS_WITH(b.entry("a/b/c/d", 3),
                    Catch::Contains("more than 2 levels") && Catch::Contains("--max-depth"));
  b.entry("a/b/c", 2);
  CHECK_THROWS_WITH(b.entry("a/x", 1),
                    Catch::Contains("more than 3 entries") && Catch::Contains("--max-entries"));
  b.bytes("a/f", 600);
  b.bytes("a/f", 400);
  CHECK(b.total_bytes() == 1000);
  CHECK_THROWS_WITH(b.bytes("a/g", 1),
                    Catch::Contains("exceeds 1000 bytes") && Catch::Contains("--max-size"));
  // A guest that claims an enormous size cannot overflow the count.
  copy_budget huge(lim);
  CHECK_THROWS(huge.bytes("a/h", UINT64_MAX));

  copy_limits defaults;
  CHECK(defaults.max_bytes >= (16ull << 30));
  CHECK(defaults.max_entries >= 100000);
  CHECK(defaults.max_depth >= 128);
}
