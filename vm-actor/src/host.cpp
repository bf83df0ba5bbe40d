// host.cpp: probing the accelerator, the TSC rate and the agent transport.
#include "berth/vm/host.hpp"

#include "berth/os/fd.hpp"
#include "berth/os/process.hpp"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

namespace berth::vm {

namespace {

// The value of the first "key : value" line of /proc/cpuinfo whose key is `key`.
std::string cpuinfo_field(std::string_view path, std::string_view key) {
  std::ifstream in{std::string(path)};
  std::string line;
  while (std::getline(in, line)) {
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    auto k = line.substr(0, colon);
    while (!k.empty() && (k.back() == ' ' || k.back() == '\t')) k.pop_back();
    if (k == key) {
      auto v = line.substr(colon + 1);
      while (!v.empty() && v.front() == ' ') v.erase(v.begin());
      return v;
    }
  }
  return {};
}

bool has_flag(const std::string& flags, std::string_view flag) {
  std::istringstream in(flags);
  std::string f;
  while (in >> f)
    if (f == flag) return true;
  return false;
}

}  // namespace

accel_choice choose_accelerator(std::string_view requested, std::string_view cpuinfo_path,
                                std::string_view kvm_device) {
  if (requested == "tcg") return {accelerator::tcg, "TCG (software emulation), as requested"};
  auto flags = cpuinfo_field(cpuinfo_path, "flags");
  bool vt = has_flag(flags, "vmx") || has_flag(flags, "svm");
  bool kvm_ok = false;
  if (vt) {
    os::unique_fd fd(::open(std::string(kvm_device).c_str(), O_RDWR | O_CLOEXEC));
    kvm_ok = fd && ::ioctl(fd.get(), KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
  }
  if (vt && kvm_ok)
    return {accelerator::kvm, "KVM: the CPU has hardware virtualisation and /dev/kvm answers"};
  std::string why = !vt ? "the CPU advertises no vmx/svm (a PVM or nested host cannot boot a "
                          "normal kernel under KVM)"
                        : "/dev/kvm is missing or does not answer";
  if (requested == "kvm") return {std::nullopt, "KVM requested but unavailable: " + why};
  return {accelerator::tcg, "TCG (software emulation): " + why};
}

uint64_t tsc_khz(std::string_view cpuinfo_path) {
  auto mhz = cpuinfo_field(cpuinfo_path, "cpu MHz");
  if (mhz.empty()) return 0;
  try {
    return static_cast<uint64_t>(std::llround(std::stod(mhz) * 1000.0));
  } catch (...) {
    return 0;
  }
}

agent_transport detect_transport(std::string_view vhost_vsock_device) {
  return ::access(std::string(vhost_vsock_device).c_str(), R_OK | W_OK) == 0
             ? agent_transport::vsock
             : agent_transport::virtio_serial;
}

std::string_view to_string(accelerator a) {
  return a == accelerator::kvm ? "kvm" : "tcg";
}

std::string_view to_string(agent_transport t) {
  return t == agent_transport::vsock ? "vsock" : "virtio-serial";
}

std::string qemu_version(const std::string& qemu_binary) {
  try {
    auto r = os::run({qemu_binary, "--version"}, std::chrono::seconds(10));
    if (r.exit_code != 0) return {};
    auto nl = r.output.find('\n');
    return r.output.substr(0, nl);
  } catch (...) {
    return {};
  }
}

}  // namespace berth::vm
