// agent_decode: fuzzes both ends of the berthd <-> berth-init wire past the framing: the typed
// conversion of what berth-init receives (each argument type its server accepts), and what
// berthd does with what a guest it does not trust sends: the agent session's reader
// (guest_reader: framing under guest_limits), decode<T> for every type the vm actor takes from a
// guest, and the vm actor itself, whose real reply and notification handlers get the input as
// the answer to one of its calls or as a notification.
//
// The vm actor runs on CAF's test coordinator with the fake backend of its unit tests
// (vm-actor/test/fake_backend.hpp): one container, started once and started again whenever a
// hostile input cost it its VM. Checked: no crash, leak or undefined behaviour; berth-init's
// side fails only with call_error(invalid_argument); berthd's side never throws, fails only with
// errc::protocol, and a value it accepts packs, decodes and packs to the same bytes; the vm actor
// always answers afterwards (a guest never costs more than its VM) and kills the VM exactly when
// the input does not decode.
#include "../../vm-actor/test/fake_backend.hpp"

#include "berth/actors/testing/deterministic.hpp"
#include "berth/agent/protocol.hpp"
#include "berth/rpc/codec.hpp"
#include "berth/vm/guest_wire.hpp"
#include "berth/vm/vm_actor.hpp"

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include <stdlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace rpc = berth::rpc;
namespace agent = berth::agent;
namespace vm = berth::vm;
namespace fs = std::filesystem;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "agent_decode: invariant broken: %s\n", what);
    std::abort();
  }
}

// What berth-init's server converts request arguments to (guest-agent/src/server.cpp).
template <class T>
void as_argument(const rpc::message& msg) {
  try {
    auto value = rpc::arg<T>(msg);
    auto bytes = rpc::pack(value);
    require(rpc::pack(rpc::unpack_as<T>(bytes)) == bytes, "an argument does not round-trip");
  } catch (const rpc::call_error& e) {
    require(e.code() == berth::errc::invalid_argument, "arg<T> failed with another class");
  }
}

// What berthd converts a guest's bytes to: decode<T>, the vm actor's one way. True if accepted.
template <class T>
bool as_guest_value(std::string_view bytes) {
  auto value = vm::decode<T>(bytes);
  if (!value) {
    require(berth::code_of(value.error()) == berth::errc::protocol,
            "decode<T> failed with another class");
    return false;
  }
  auto packed = rpc::pack(*value);
  auto again = vm::decode<T>(packed);
  require(static_cast<bool>(again), "a decoded guest value does not decode again");
  require(rpc::pack(*again) == packed, "a decoded guest value does not round-trip");
  return true;
}

template <class... Ts>
struct types {
  static void arguments(const rpc::message& msg) { (as_argument<Ts>(msg), ...); }
  static void guest_values(std::string_view bytes) { (as_guest_value<Ts>(bytes), ...); }
};

// Arguments of the agent's methods (protocol.hpp's method namespace).
using agent_arguments =
    types<agent::empty, agent::version_request, agent::mount_spec, agent::process_spec,
          agent::process_ref, agent::signal_request, agent::stdin_chunk, agent::resize_request,
          agent::path_request, agent::read_request, agent::file_info, agent::write_request,
          agent::network_config>;

// What the vm actor takes from a guest: results and notification payloads.
using guest_values = types<agent::empty, agent::version_info, agent::process_started,
                           agent::exit_status, agent::output_chunk, agent::vm_stats,
                           agent::file_info, std::vector<agent::file_info>, agent::read_result>;

// The input as a byte stream from a guest, through the agent session's reader.
void as_stream(std::string_view bytes, std::size_t piece) {
  vm::guest_reader reader;
  for (std::size_t off = 0; off < bytes.size(); off += piece) {
    auto n = std::min(piece, bytes.size() - off);
    if (reader.feed(bytes.data() + off, n)) return;  // the session would end here
    for (;;) {
      rpc::message msg;
      auto more = reader.next(msg);
      if (!more) {
        require(berth::code_of(more.error()) == berth::errc::protocol, "reader: another class");
        return;
      }
      if (!*more) break;
      switch (msg.type) {
        case rpc::kind::request:
          agent_arguments::arguments(msg);
          break;
        case rpc::kind::response:
          rpc::error_of(msg);
          guest_values::guest_values(rpc::pack(msg.result));
          break;
        case rpc::kind::notification:
          guest_values::guest_values(rpc::packed_arg(msg));
          break;
      }
    }
  }
}

// One vm actor with a fake VM, on the test coordinator, for the whole run.
struct actor_harness : berth::testing::deterministic {
  std::shared_ptr<vm::testing::fake_backend> vms = std::make_shared<vm::testing::fake_backend>();
  std::shared_ptr<vm::vm_environment> env = std::make_shared<vm::vm_environment>();
  caf::actor actor;

  actor_harness() {
    char tmpl[] = "/tmp/berth-fuzz-vm-XXXXXX";
    require(::mkdtemp(tmpl) != nullptr, "mkdtemp");
    env->data_root = fs::path(tmpl) / "data";
    env->run_root = fs::path(tmpl) / "run";
    env->backend = vms;
    env->heartbeat_timeout = std::chrono::milliseconds(0);
    berth::container_record rec;
    rec.id = std::string(64, 'f');
    rec.name = "fuzz";
    rec.process.id = rec.id;
    rec.process.args = {"sh"};
    rec.network_mode = "none";
    auto out = std::make_shared<vm::vm_actor>();
    // Every function actor here takes an unused int: CAF 0.17 binds a reference to a null
    // shared_ptr<tuple<>> for one without arguments, which UBSan reports (chaos-tests/ubsan.supp
    // cannot name it by function in a -gline-tables-only build).
    spawn_owned(
        [out, e = env, rec](caf::event_based_actor* self, int) {
          *out = vm::spawn_vm(self, e, rec, berth::store_actor{}, caf::actor{});
          return caf::behavior{[](berth::info_atom) {}};
        },
        0);
    run();
    actor = caf::actor_cast<caf::actor>(*out);
    owned.push_back(actor);
  }

  // Sends a request whose answer is a T and runs the system until nothing is left to do.
  template <class T, class... Ts>
  void ask(Ts... xs) {
    auto h = actor;
    sys.spawn(
        [=](caf::event_based_actor* self, int) {
          self->request(h, caf::infinite, xs...).then([](T&) {}, [](caf::error&) {});
        },
        0);
    run();
  }

  // The container's state; aborts if the actor does not answer (it crashed).
  std::string state() {
    auto rec = std::make_shared<berth::container_record>();
    auto answered = std::make_shared<bool>(false);
    auto h = actor;
    sys.spawn(
        [=](caf::event_based_actor* self, int) {
          self->request(h, caf::infinite, berth::inspect_atom_v)
              .then([=](berth::container_record& r) {
                *rec = std::move(r);
                *answered = true;
              });
        },
        0);
    run();
    require(*answered, "the vm actor no longer answers: a guest crashed it");
    return rec->state;
  }

  // The container runs with no hostile answers left over.
  void running() {
    vms->answers.clear();
    if (state() != berth::state::running) {
      auto h = actor;
      sys.spawn(
          [=](caf::event_based_actor* self, int) {
            self->request(h, caf::infinite, berth::start_atom_v).then([] {}, [](caf::error&) {});
          },
          0);
      run();
    }
    require(state() == berth::state::running, "the container does not start again");
  }
};

actor_harness& harness() {
  static auto* h = new actor_harness;  // lives for the whole run, like libFuzzer's process
  return *h;
}

// The input as what the guest sends the vm actor: the answer to one of its calls or a
// notification, chosen by `which`. The VM must be killed exactly when the input is refused.
void as_vm_actor_input(std::string_view bytes, uint8_t which) {
  auto& h = harness();
  h.running();
  std::string packed(bytes);
  bool accepted = true;
  switch (which % 6) {
    case 0:
      h.vms->answers["stats"] = packed;
      h.ask<berth::api::container_stats>(berth::stats_atom_v);
      accepted = as_guest_value<agent::vm_stats>(bytes);
      break;
    case 1:
      h.vms->answers["stat"] = packed;
      h.ask<berth::api::file_info>(berth::file_atom_v, berth::api::file_ref{"fuzz", "/f"});
      accepted = as_guest_value<agent::file_info>(bytes);
      break;
    case 2:
      h.vms->answers["list"] = packed;
      h.ask<std::vector<berth::api::file_info>>(berth::file_atom_v, berth::list_atom_v,
                                                berth::api::file_ref{"fuzz", "/"});
      accepted = as_guest_value<std::vector<agent::file_info>>(bytes);
      break;
    case 3: {
      h.vms->answers["read"] = packed;
      berth::api::file_read_request req;
      req.path = "/f";
      req.length = 64;
      h.ask<berth::api::file_data>(berth::file_atom_v, berth::read_atom_v, req);
      auto got = vm::decode<agent::read_result>(bytes);
      accepted = got && got->data.size() <= 64;
      break;
    }
    case 4:
      vm::testing::fake_backend::notify(*h.vms->last(), "output", packed);
      h.run();
      accepted = as_guest_value<agent::output_chunk>(bytes);
      break;
    case 5: {
      vm::testing::fake_backend::notify(*h.vms->last(), "exit", packed);
      h.run();
      accepted = as_guest_value<agent::exit_status>(bytes);
      // An accepted exit of the workload ends the container the regular way.
      if (accepted) return (void)h.state();
      break;
    }
  }
  h.vms->answers.clear();
  bool killed = !h.vms->last()->alive;
  require(killed != accepted, "the VM's fate does not match the verdict on its guest's bytes");
  h.state();  // the actor answers
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return -1;
  std::string_view bytes{reinterpret_cast<const char*>(data), size};
  auto first = size > 0 ? data[0] : uint8_t{0};

  // As frames on the wire, split into pieces of a size the first byte picks.
  as_stream(bytes, static_cast<std::size_t>(first) + 1);

  // As one packed object, which the vm actor's handlers take (the first byte picks which).
  guest_values::guest_values(bytes);
  if (size > 0) as_vm_actor_input(bytes.substr(1), first);
  return 0;
}
