// host: what this host offers VMs, probed once when berthd starts.
//
// The accelerator is KVM only where the CPU advertises vmx or svm and /dev/kvm answers: a PVM
// host has /dev/kvm but boots only specially built guests, so /dev/kvm alone is not trusted.
// Everywhere else it is TCG, which needs the guest told the TSC rate (tsc_early_khz) and a capped
// translation buffer. The agent channel is vsock where /dev/vhost-vsock exists, else virtio-serial.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::vm {

/// What executes the guest's instructions.
enum class accelerator { tcg, kvm };

/// How berthd and berth-init talk: a virtio-serial port, or AF_VSOCK where the host has
/// vhost-vsock.
enum class agent_transport { virtio_serial, vsock };

/// "tcg" or "kvm".
std::string_view to_string(accelerator a);
/// "virtio-serial" or "vsock": the name QEMU's command line, the guest and `system info` use.
std::string_view to_string(agent_transport t);

/// The accelerator VMs run with, and why.
struct accel_choice {
  std::optional<accelerator> kind;  ///< None when the one asked for cannot work here.
  std::string note;                 ///< One line for logs and `system info`.
};

/// Chooses the accelerator; `requested` is "auto", "kvm" or "tcg". `cpuinfo` and `kvm_device`
/// are parameters so tests can present another host.
accel_choice choose_accelerator(std::string_view requested = "auto",
                                std::string_view cpuinfo_path = "/proc/cpuinfo",
                                std::string_view kvm_device = "/dev/kvm");

/// The host TSC rate in kHz from /proc/cpuinfo ("cpu MHz"), 0 if unknown.
uint64_t tsc_khz(std::string_view cpuinfo_path = "/proc/cpuinfo");

/// The agent transport this host supports.
agent_transport detect_transport(std::string_view vhost_vsock_device = "/dev/vhost-vsock");

/// QEMU's version line ("QEMU emulator version 7.2.22 ..."), or an empty string if it does
/// not run.
std::string qemu_version(const std::string& qemu_binary);

}  // namespace berth::vm
