// Tests for host probing: the accelerator choice must not trust /dev/kvm alone.
#include "berth/vm/host.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

using namespace berth::vm;
namespace fs = std::filesystem;

namespace {

struct fake_cpuinfo {
  fs::path path = fs::temp_directory_path() / ("berth-cpuinfo-" + std::to_string(::getpid()));
  explicit fake_cpuinfo(const std::string& flags, const std::string& mhz = "2300.000") {
    std::ofstream(path) << "processor\t: 0\ncpu MHz\t\t: " << mhz << "\nflags\t\t: " << flags
                        << "\n";
  }
  ~fake_cpuinfo() { fs::remove(path); }
};

}  // namespace

TEST_CASE("a CPU without vmx or svm gets TCG even where /dev/kvm exists") {
  fake_cpuinfo cpu("fpu sse2 constant_tsc hypervisor");
  auto choice = choose_accelerator("auto", cpu.path.string(), "/dev/null");
  CHECK(choice.kind == accelerator::tcg);
  CHECK(choice.note.find("vmx") != std::string::npos);
}

TEST_CASE("a CPU with vmx but no working /dev/kvm gets TCG") {
  fake_cpuinfo cpu("fpu vmx sse2");
  auto choice = choose_accelerator("auto", cpu.path.string(), "/nonexistent/kvm");
  CHECK(choice.kind == accelerator::tcg);
}

TEST_CASE("asking for KVM where it cannot work is no choice, with the reason") {
  fake_cpuinfo cpu("fpu sse2");
  auto choice = choose_accelerator("kvm", cpu.path.string(), "/nonexistent/kvm");
  CHECK_FALSE(choice.kind.has_value());
  CHECK_FALSE(choice.note.empty());
}

TEST_CASE("asking for TCG always gets TCG") {
  CHECK(choose_accelerator("tcg").kind == accelerator::tcg);
}

TEST_CASE("the TSC rate is read from cpu MHz in kHz") {
  fake_cpuinfo cpu("fpu", "2593.906");
  CHECK(tsc_khz(cpu.path.string()) == 2593906);
  CHECK(tsc_khz("/nonexistent") == 0);
}

TEST_CASE("without /dev/vhost-vsock the agent uses virtio-serial") {
  CHECK(detect_transport("/nonexistent/vhost-vsock") == agent_transport::virtio_serial);
  CHECK(to_string(agent_transport::virtio_serial) == "virtio-serial");
  CHECK(to_string(agent_transport::vsock) == "vsock");
}
