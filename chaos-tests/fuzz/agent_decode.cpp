// agent_decode: fuzzes both ends of the berthd <-> berth-init wire past the framing: the typed
// conversion of what berth-init receives (each argument type its server accepts) and of what
// berthd receives from a guest it does not trust (results and notifications, which the vm actor
// converts with unpack_as).
//
// The input goes two ways: as a stream of msgpack-RPC frames (requests converted with arg<T> to
// every argument type, responses with result_as<T> to every result type, notifications to both
// notification payloads), and as one packed object converted with unpack_as<T> to every type.
// Checked: no crash, leak or undefined behaviour; a failure is a call_error or a protocol_error,
// never another exception; and a value that converts packs, unpacks and packs to the same bytes.
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace rpc = berth::rpc;
namespace agent = berth::agent;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "agent_decode: invariant broken: %s\n", what);
    std::abort();
  }
}

template <class T>
void check_roundtrip(const T& value) {
  auto bytes = rpc::pack(value);
  require(rpc::pack(rpc::unpack_as<T>(bytes)) == bytes, "a converted value does not round-trip");
}

// What berth-init's server converts request arguments to (guest-agent/src/server.cpp).
template <class T>
void as_argument(const rpc::message& msg) {
  try {
    check_roundtrip(rpc::arg<T>(msg));
  } catch (const rpc::call_error& e) {
    require(e.code() == berth::errc::invalid_argument, "arg<T> failed with another class");
  }
}

// What berthd converts a guest's answers to when it waits for them as results.
template <class T>
void as_result(const rpc::message& msg) {
  try {
    check_roundtrip(rpc::result_as<T>(msg));
  } catch (const rpc::call_error&) {
  }
}

// What berthd's vm actor does with packed answers and notifications (vm-actor/src/vm_actor.cpp).
template <class T>
void as_packed(std::string_view bytes) {
  try {
    check_roundtrip(rpc::unpack_as<T>(bytes));
  } catch (const rpc::call_error& e) {
    require(e.code() == berth::errc::invalid_argument, "unpack_as<T> failed with another class");
  }
}

template <class... Ts>
struct types {
  static void arguments(const rpc::message& msg) { (as_argument<Ts>(msg), ...); }
  static void results(const rpc::message& msg) { (as_result<Ts>(msg), ...); }
  static void packed(std::string_view bytes) { (as_packed<Ts>(bytes), ...); }
};

// Arguments of the agent's methods (protocol.hpp's method namespace).
using agent_arguments =
    types<agent::empty, agent::version_request, agent::mount_spec, agent::process_spec,
          agent::process_ref, agent::signal_request, agent::stdin_chunk, agent::resize_request,
          agent::path_request, agent::read_request, agent::file_info, agent::write_request,
          agent::network_config>;

// What the agent sends back: results and notification payloads.
using host_results = types<agent::empty, agent::version_info, agent::process_started,
                           agent::exit_status, agent::output_chunk, agent::vm_stats,
                           agent::file_info, std::vector<agent::file_info>, agent::read_result>;

void check_message(const rpc::message& msg) {
  switch (msg.type) {
    case rpc::kind::request:
      agent_arguments::arguments(msg);
      break;
    case rpc::kind::response:
      host_results::results(msg);
      break;
    case rpc::kind::notification:
      as_argument<agent::output_chunk>(msg);
      as_argument<agent::exit_status>(msg);
      host_results::packed(rpc::packed_arg(msg));
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return -1;
  std::string_view bytes{reinterpret_cast<const char*>(data), size};

  // As frames on the wire, split into pieces of a size the first byte picks.
  rpc::decoder d;
  size_t piece = size > 0 ? static_cast<size_t>(data[0]) + 1 : 1;
  try {
    for (size_t off = 0; off < size; off += piece) {
      auto n = std::min(piece, size - off);
      d.feed(bytes.data() + off, n);
      rpc::message msg;
      while (d.next(msg)) check_message(msg);
    }
  } catch (const rpc::protocol_error&) {
  }

  // As one packed object.
  agent_arguments::packed(bytes);
  host_results::packed(bytes);
  return 0;
}
