// End-to-end: the filesystems a container gets: named volumes that outlive it, host directories
// shared into its VM only (and :ro enforced), --read-only, --tmpfs, and exclusive read-write use
// of a volume.
#include "e2e.hpp"

#include <fstream>

using namespace berth::e2e;
using namespace std::chrono;

TEST_CASE("data written to a named volume survives rm and is seen by the next container") {
  auto& d = daemon::get();
  d.ok({"run", "--rm", "-v", "keep:/data", "busybox", "sh", "-c", "echo persisted > /data/file"});
  CHECK(d.ok({"volume", "ls", "-q"}).find("keep\n") != std::string::npos);
  CHECK(d.ok({"run", "--rm", "-v", "keep:/data:ro", "busybox", "cat", "/data/file"}) ==
        "persisted\n");
  auto ro = d.berth({"run", "--rm", "-v", "keep:/data:ro", "busybox", "touch", "/data/other"});
  CHECK(ro.code != 0);
  CHECK(ro.err.find("Read-only") != std::string::npos);
  // --mount spells the same thing.
  CHECK(d.ok({"run", "--rm", "--mount", "type=volume,src=keep,dst=/v", "busybox", "cat",
              "/v/file"}) == "persisted\n");
  auto inspect = d.ok({"volume", "inspect", "keep"});
  CHECK(inspect.find("\"Name\": \"keep\"") != std::string::npos);
}

TEST_CASE(
    "a volume attached read-write to a running container cannot be attached read-write again") {
  auto& d = daemon::get();
  d.ok({"volume", "create", "shared"});
  d.ok({"run", "-d", "--name", "owner", "-v", "shared:/s", "busybox", "sleep", "100000"});
  auto second = d.berth({"run", "--rm", "-v", "shared:/s", "busybox", "true"});
  CHECK(second.code == 125);
  CHECK(second.err.find("read-write") != std::string::npos);
  CHECK(d.ok({"run", "--rm", "-v", "shared:/s:ro", "busybox", "true"}).empty());
  auto in_use = d.berth({"volume", "rm", "shared"});
  CHECK(in_use.code != 0);
  CHECK(in_use.err.find("in use") != std::string::npos);
  d.ok({"rm", "-f", "owner"});
  d.ok({"volume", "rm", "shared"});
  CHECK(d.berth({"volume", "inspect", "shared"}).code != 0);
}

TEST_CASE("a host directory is shared into that VM, and :ro is enforced") {
  auto& d = daemon::get();
  auto share = d.root() / "share";
  fs::create_directories(share);
  std::ofstream(share / "from-host") << "hello from the host\n";
  CHECK(d.ok({"run", "--rm", "-v", share.string() + ":/mnt:ro", "busybox", "cat",
              "/mnt/from-host"}) == "hello from the host\n");
  auto denied =
      d.berth({"run", "--rm", "-v", share.string() + ":/mnt:ro", "busybox", "touch", "/mnt/x"});
  CHECK(denied.code != 0);
  CHECK_FALSE(fs::exists(share / "x"));
  d.ok({"run", "--rm", "-v", share.string() + ":/mnt", "busybox", "sh", "-c",
        "echo from guest > /mnt/from-guest"});
  CHECK(berth::os::read_file(share / "from-guest") == "from guest\n");
  // Nothing else of the host is visible: the share is all the VM gets.
  CHECK(d.berth({"run", "--rm", "busybox", "ls", "/mnt/from-host"}).code != 0);
}

TEST_CASE("run --read-only refuses writes to the root, --tmpfs gives writable scratch space") {
  auto& d = daemon::get();
  auto r = d.berth({"run", "--rm", "--read-only", "busybox", "touch", "/etc/x"});
  CHECK(r.code != 0);
  CHECK(r.err.find("Read-only file system") != std::string::npos);
  CHECK(d.ok({"run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
              "echo ok > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/mounts | cut -d' "
              "' -f3"}) == "ok\ntmpfs\n");
  // /etc/hosts stays writable with a read-only root, as under Docker.
  CHECK(d.ok({"run", "--rm", "--read-only", "busybox", "sh", "-c",
              "echo '1.2.3.4 x' >> /etc/hosts && tail -1 /etc/hosts"}) == "1.2.3.4 x\n");
}

TEST_CASE("bad mounts are refused with a clear message") {
  auto& d = daemon::get();
  CHECK(d.berth({"run", "--rm", "-v", "bad name:/x", "busybox", "true"}).code == 125);
  CHECK(d.berth({"run", "--rm", "-v", "vol:relative", "busybox", "true"}).code == 125);
  CHECK(d.berth({"run", "--rm", "-v", "vol:/x:rx", "busybox", "true"}).code == 125);
  CHECK(d.berth({"run", "--rm", "--mount", "type=nfs,src=a,dst=/b", "busybox", "true"}).code ==
        125);
  CHECK(d.ok({"ps", "-a", "-q"}).empty());
}

TEST_CASE("volume prune removes only volumes no container names") {
  auto& d = daemon::get();
  d.ok({"volume", "create", "orphan"});
  d.ok({"create", "--name", "holder", "-v", "held:/h", "busybox", "true"});
  auto pruned = d.ok({"volume", "prune", "-f"});
  CHECK(pruned.find("orphan") != std::string::npos);
  CHECK(pruned.find("held") == std::string::npos);
  auto left = d.ok({"volume", "ls", "-q"});
  CHECK(left.find("held") != std::string::npos);
  CHECK(left.find("orphan") == std::string::npos);
  d.ok({"rm", "holder"});
  d.ok({"container", "prune", "-f"});
}
