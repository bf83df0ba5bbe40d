// Tests of the fw_cfg file directory parser (src/fw_cfg.cpp), the part of reading the agent key
// that does not need a VM: a directory QEMU would give, and directories that lie about their size.
#include "fw_cfg.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace berth::agent;

namespace {

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

// One 64-byte directory entry.
std::string entry(uint32_t size, uint16_t select, const std::string& name) {
  std::string e = be32(size);
  e += static_cast<char>(select >> 8);
  e += static_cast<char>(select);
  e += std::string(2, '\0');
  std::string field = name.substr(0, 56);
  field.resize(56, '\0');
  return e + field;
}

}  // namespace

TEST_CASE("a fw_cfg file is found by its full name in the directory") {
  auto dir = be32(3) + entry(12, 0x20, "etc/boot-menu-wait") +
             entry(32, 0x21, "opt/berth/agent-key") + entry(7, 0x22, "opt/berth/agent-key-old");
  auto f = find_fw_cfg_file(dir, "opt/berth/agent-key");
  REQUIRE(f);
  CHECK(f->size == 32);
  CHECK(f->select == 0x21);
  CHECK_FALSE(find_fw_cfg_file(dir, "opt/berth/agent"));
  CHECK_FALSE(find_fw_cfg_file(dir, "opt/berth/agent-key-"));
}

TEST_CASE("a fw_cfg directory that claims more entries than it holds is read as far as it goes") {
  auto dir = be32(0xffffffff) + entry(32, 0x21, "opt/berth/agent-key") + "short";
  auto f = find_fw_cfg_file(dir, "opt/berth/agent-key");
  REQUIRE(f);
  CHECK(f->select == 0x21);
  CHECK_FALSE(find_fw_cfg_file(dir, "missing"));
  CHECK_FALSE(find_fw_cfg_file("", "opt/berth/agent-key"));
  CHECK_FALSE(find_fw_cfg_file(be32(1), "opt/berth/agent-key"));
}

TEST_CASE("a fw_cfg name without its terminating zero matches only in full") {
  std::string full(56, 'a');
  auto dir = be32(1) + entry(1, 0x30, full);
  CHECK_FALSE(find_fw_cfg_file(dir, std::string(55, 'a')));
  CHECK_FALSE(find_fw_cfg_file(dir, full));  // longer than a name can be
}
