// run_with_berthd: the python_client test. Starts this process's berthd through the e2e harness
// (supervisor/test/e2e.hpp: its own network namespace, data and run roots, busybox loaded) and
// runs clients/python's unittest suite against it with BERTH_TEST_HOST naming its socket. The
// harness checks at exit that berthd stopped cleanly and left no QEMU behind.
#include "berth/testing/skip.hpp"
#include "e2e.hpp"

#include <iostream>

using namespace berth;

TEST_CASE("the Python client passes its unittest suite against a real berthd") {
  auto python = std::string(BERTH_PYTHON3);
  if (python.empty() || python.find("NOTFOUND") != std::string::npos)
    BERTH_SKIP("no python3 on this host");
  auto src = e2e::source_dir() / "clients/python";
  auto probe = os::run({python, "-c", "import msgpack"}, std::chrono::seconds(30));
  if (probe.exit_code != 0) BERTH_SKIP("python3 has no msgpack (install python3-msgpack)");
  auto& d = e2e::daemon::get();
  auto r = os::run({"/usr/bin/env", "BERTH_TEST_HOST=" + d.host(), "PYTHONPATH=" + src.string(),
                    "PYTHONDONTWRITEBYTECODE=1", python, "-m", "unittest", "discover", "-v", "-s",
                    (src / "tests").string(), "-t", src.string()},
                   std::chrono::seconds(300), 4u << 20);
  std::cout << r.output << r.errors << std::flush;
  INFO(r.errors);
  if (r.exit_code != 0) INFO("berthd's log:\n" << d.log());
  REQUIRE(r.exit_code == 0);
}
