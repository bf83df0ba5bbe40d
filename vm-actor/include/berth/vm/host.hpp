// host: what this host offers VMs, probed once when berthd starts.
//
// The accelerator is KVM only where the CPU advertises vmx or svm and /dev/kvm answers: a PVM
// host has /dev/kvm but boots only specially built guests, so /dev/kvm alone is not trusted.
// Everywhere else it is TCG, which needs the guest told the TSC rate (tsc_early_khz) and a capped
// translation buffer. The agent channel is vsock where /dev/vhost-vsock exists, else virtio-serial.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace berth::vm {

/// The accelerator VMs run with, and why.
struct accel_choice {
  std::string name;  ///< "kvm" or "tcg".
  std::string note;  ///< One line for logs and `system info`.
};

/// Chooses the accelerator; `requested` is "auto", "kvm" or "tcg". `cpuinfo` and `kvm_device`
/// are parameters so tests can present another host.
accel_choice choose_accelerator(std::string_view requested = "auto",
                                std::string_view cpuinfo_path = "/proc/cpuinfo",
                                std::string_view kvm_device = "/dev/kvm");

/// The host TSC rate in kHz from /proc/cpuinfo ("cpu MHz"), 0 if unknown.
uint64_t tsc_khz(std::string_view cpuinfo_path = "/proc/cpuinfo");

/// The agent transport this host supports: "vsock" or "virtio-serial".
std::string agent_transport(std::string_view vhost_vsock_device = "/dev/vhost-vsock");

/// QEMU's version line ("QEMU emulator version 7.2.22 ..."), or an empty string if it does
/// not run.
std::string qemu_version(const std::string& qemu_binary);

}  // namespace berth::vm
