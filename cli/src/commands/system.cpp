// system.cpp: `berth system info` (also `berth info`): what berthd runs on and with.
#include "command.hpp"

#include "berth/rpc/api.hpp"

#include <cstdio>

namespace berth::cli {

namespace {

int cmd_info(context& ctx, const parsed&) {
  auto info = ctx.conn().call<api::system_info>(api::method::system_info);
  std::printf("Server Version:    %s\n", info.version.c_str());
  std::printf("Accelerator:       %s\n", info.accelerator.c_str());
  std::printf("  %s\n", info.accelerator_note.c_str());
  std::printf("Kernel:            %s (%s)\n", info.kernel_version.c_str(), info.kernel.c_str());
  std::printf("Agent Transport:   %s\n", info.agent_transport.c_str());
  std::printf("QEMU:              %s\n", info.qemu.c_str());
  std::printf("Data Root:         %s\n", info.data_root.c_str());
  std::printf("Containers:        %u (running %u)\n", info.containers, info.containers_running);
  std::printf("Images:            %u\n", info.images);
  return 0;
}

}  // namespace

std::vector<command> system_commands() {
  return {{"info", "", "Display system-wide information", {}, false, 0, 0, cmd_info}};
}

}  // namespace berth::cli
