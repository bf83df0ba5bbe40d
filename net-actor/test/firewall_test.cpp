// Tests for the nftables table berth owns: the script's text, and the script as nft itself reads
// and applies it, in a network namespace of the test's own (forked child; the host's rules are
// never looked at or touched).
#include "host_links.hpp"

#include "support.hpp"

#include "berth/actors/vocabulary.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include "berth/testing/skip.hpp"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace berth;
using namespace berth::net;

namespace {

std::vector<host::firewall_network> two_networks() {
  return {{"brth-aaaa0001", "10.89.0.0/16", false}, {"brth-bbbb0002", "10.90.7.0/24", true}};
}

bool have_nft() {
  return ::access("/usr/sbin/nft", X_OK) == 0 || ::access("/sbin/nft", X_OK) == 0;
}

// A command's stdout (argv, no shell).
std::string output_of(const std::vector<std::string>& argv, int* code = nullptr) {
  auto r = os::run(argv, std::chrono::seconds(20));
  if (code) *code = r.exit_code;
  return r.output + r.errors;
}

}  // namespace

TEST_CASE("without networks the script only deletes the table, whether or not it exists") {
  auto s = host::nft_script("berth", {});
  CHECK(s == "table inet berth\ndelete table inet berth\n");
}

TEST_CASE("the script isolates networks, NATs the external ones and closes internal ones") {
  auto s = host::nft_script("berth", two_networks());
  // Replaced atomically: the table is made (a no-op if it exists), deleted and made again in one
  // transaction.
  CHECK(s.rfind("table inet berth\ndelete table inet berth\ntable inet berth {\n", 0) == 0);
  CHECK_THAT(s, Catch::Contains("type filter hook forward priority filter; policy accept;"));
  CHECK_THAT(s, Catch::Contains("type nat hook postrouting priority srcnat; policy accept;"));
  // No traffic from one berth bridge to another.
  CHECK_THAT(s,
             Catch::Contains(
                 "iifname \"brth-aaaa0001\" oifname \"brth-*\" oifname != \"brth-aaaa0001\" drop"));
  CHECK_THAT(s,
             Catch::Contains(
                 "iifname \"brth-bbbb0002\" oifname \"brth-*\" oifname != \"brth-bbbb0002\" drop"));
  // The external network: replies come in, nothing new does; its traffic out is masqueraded.
  CHECK_THAT(s, Catch::Contains("oifname \"brth-aaaa0001\" ct state established,related accept"));
  CHECK_THAT(s, Catch::Contains("oifname \"brth-aaaa0001\" iifname != \"brth-aaaa0001\" drop"));
  CHECK_THAT(s, Catch::Contains("ip saddr 10.89.0.0/16 oifname != \"brth-aaaa0001\" masquerade"));
  // The internal network: nothing in or out, and no NAT.
  CHECK_THAT(s, Catch::Contains("iifname \"brth-bbbb0002\" oifname != \"brth-bbbb0002\" drop"));
  CHECK_THAT(s, Catch::Contains("oifname \"brth-bbbb0002\" iifname != \"brth-bbbb0002\" drop"));
  CHECK_THAT(s, !Catch::Contains("10.90.7.0/24"));
  CHECK_THAT(s, !Catch::Contains("brth-bbbb0002\" ct state"));
  // Another table name is used throughout.
  auto other = host::nft_script("berthtest", two_networks());
  CHECK_THAT(other, Catch::Contains("delete table inet berthtest\n"));
  CHECK_THAT(other, !Catch::Contains("inet berth "));
}

TEST_CASE("nft accepts the script, applies it, replaces it and deletes the table (own netns)") {
  if (!have_nft()) {
    BERTH_SKIP("nft is not installed");
  }
  REQUIRE(::geteuid() == 0);
  auto problems = test::in_private_netns([]() -> std::string {
    std::string out;
    auto script = host::nft_script("berth", two_networks());
    // `nft -c` checks without applying.
    auto path = "/tmp/berth-fw-test." + std::to_string(::getpid()) + ".nft";
    os::write_file_atomic(path, script);
    int code = 0;
    auto checked = output_of({"nft", "-c", "-f", path}, &code);
    ::unlink(path.c_str());
    if (code != 0) out += "nft -c rejected the script: " + checked + "\n";
    // Applied twice (the second replaces the first), then with one network fewer.
    for (int i = 0; i < 2; ++i)
      if (auto err = host::apply_nft(script)) out += "apply: " + describe(err) + "\n";
    auto listed = output_of({"nft", "list", "table", "inet", "berth"});
    for (auto want : {"masquerade", "ip saddr 10.89.0.0/16", "ct state established,related accept",
                      "oifname \"brth-*\""})
      if (listed.find(want) == std::string::npos)
        out += std::string("table lacks ") + want + ":\n" + listed;
    if (auto err = host::apply_nft(host::nft_script("berth", {two_networks()[1]})))
      out += describe(err) + "\n";
    listed = output_of({"nft", "list", "table", "inet", "berth"});
    if (listed.find("masquerade") != std::string::npos ||
        listed.find("brth-aaaa0001") != std::string::npos)
      out += "the removed network's rules stayed:\n" + listed;
    // Deleted, and deleting again is fine.
    if (auto err = host::delete_nft_table("berth")) out += "delete: " + describe(err) + "\n";
    if (auto err = host::delete_nft_table("berth")) out += "delete again: " + describe(err) + "\n";
    auto tables = output_of({"nft", "list", "tables"});
    if (tables.find("berth") != std::string::npos) out += "the table is still there: " + tables;
    // A script nft refuses is an error with nft's message.
    auto err = host::apply_nft("table inet berth {\n chain c { bogus }\n}\n");
    if (!err)
      out += "a broken script was accepted\n";
    else if (code_of(err) != errc::io)
      out += "a broken script gave " + describe(err) + "\n";
    return out;
  });
  INFO(problems);
  CHECK(problems.empty());
}

TEST_CASE("forwarding is enabled in the namespace it runs in (own netns)") {
  REQUIRE(::geteuid() == 0);
  auto problems = test::in_private_netns([]() -> std::string {
    if (auto err = host::enable_ip_forward()) return describe(err);
    if (auto err = host::enable_ip_forward()) return "again: " + describe(err);
    auto after = os::read_file("/proc/sys/net/ipv4/ip_forward");
    return after == "1\n" ? "" : "ip_forward is " + after;
  });
  INFO(problems);
  CHECK(problems.empty());
}
