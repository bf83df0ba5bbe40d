// boot: what berth-init does as PID 1 before it serves: kernel modules, the kernel command
// line, finding its port, and powering the VM off at the end.
//
// The initramfs holds /init (berth-init), /dev/console, /lib/modules/*.ko and
// /lib/modules/load.list, one .ko file name per line in dependency order. There is no udev and
// no modprobe in the guest: the agent loads the list itself and finds the virtio-serial port by
// reading /sys/class/virtio-ports/*/name. Modules only some containers need (9p) come as module
// sets, /lib/modules/<name>.list in the same format, loaded when first needed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace berth::agent {

/// The module file names in load.list text: one per line; blank lines and '#' comments skipped.
std::vector<std::string> parse_load_list(std::string_view text);

/// Loads every module of `dir`/load.list with finit_module, in order; a module already loaded is
/// fine, other failures are logged. Returns how many modules loaded.
int load_modules(const std::string& dir);

/// Loads the module set `name`: every module of `dir`/<name>.list, in order, the first time it is
/// asked for (later calls return at once). A module already loaded is fine. Throws
/// rpc::call_error: unsupported when the list is missing ("this VM's initramfs has no 9p
/// modules"), io when a module cannot be read or loaded (the set is then tried again next time).
void load_module_set(const std::string& name, const std::string& dir = "/lib/modules");

/// The value of `key=value` on a kernel command line; "" for a bare `key`; nothing if absent.
std::optional<std::string> cmdline_value(std::string_view cmdline, std::string_view key);

/// The device name ("vport0p1") under `class_dir` ("/sys/class/virtio-ports") whose `name`
/// file holds `port_name`, or "".
std::string find_port(const std::string& class_dir, std::string_view port_name);

/// Waits (checking every few ms) until the port named `port_name` exists and opens /dev/<it>
/// read-write, non-blocking, close-on-exec. Returns -1 after `timeout`.
int open_port(std::string_view port_name, std::chrono::milliseconds timeout);

/// A non-blocking AF_VSOCK socket listening on `port` of any CID, or -1 (errno set).
int listen_vsock(uint32_t port);

/// Milliseconds since the kernel booted.
uint64_t uptime_ms();

/// Powers the VM off: reboot(RB_POWER_OFF), and RB_AUTOBOOT if that returns (QEMU runs with
/// -no-reboot, so either ends the VM).
[[noreturn]] void power_off();

}  // namespace berth::agent
