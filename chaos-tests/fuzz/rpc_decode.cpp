// rpc_decode: fuzzes the msgpack-RPC decoder that reads every byte a client sends berthd (and
// every byte a guest sends it), and the typed conversion of what it decodes.
//
// The input is a byte stream, fed to decoders in pieces whose sizes come from the input itself.
// Checked: no crash, leak or undefined behaviour on any bytes; every failure is a protocol_error
// (framing) or a call_error (arguments), never another exception; the decoder never holds more
// than max_message bytes, and a decoded message is within its limits (nesting depth, entries of
// an array or map, bytes of a string or binary); a decoded message has the shape the decoder
// promises; re-encoding a message with the encoders gives bytes that decode to the
// same message; messages stay valid while the decoder takes more bytes; and the argument of a
// request converts to every argument type of berth::api (what berthd's handlers in
// supervisor/src/api/ do), and a response to every result type the CLI reads, either cleanly or
// with call_error.
#include "berth/rpc/api.hpp"
#include "berth/rpc/codec.hpp"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace {

namespace rpc = berth::rpc;
namespace api = berth::api;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "rpc_decode: invariant broken: %s\n", what);
    std::abort();
  }
}

// Converts to T with arg<T> (the server's way) and packs what converts (the way it travels on to
// the actors' replies and records).
template <class T>
void convert_arg(const rpc::message& msg) {
  try {
    (void)rpc::pack(rpc::arg<T>(msg));
  } catch (const rpc::call_error& e) {
    require(e.code() == berth::errc::invalid_argument, "arg<T> failed with another class");
  }
}

template <class... Ts>
void convert_args(const rpc::message& msg) {
  (convert_arg<Ts>(msg), ...);
}

// Converts a response's result with result_as<T> (the CLI's way).
template <class T>
void convert_result(const rpc::message& msg) {
  try {
    (void)rpc::pack(rpc::result_as<T>(msg));
  } catch (const rpc::call_error&) {
  }
}

template <class... Ts>
void convert_results(const rpc::message& msg) {
  (convert_result<Ts>(msg), ...);
}

// Re-encodes `msg` with the encoders; empty when they cannot say it (params of more than one
// element, which berth never sends).
std::string reencode(const rpc::message& msg) {
  switch (msg.type) {
    case rpc::kind::request:
      if (msg.params.via.array.size > 1) return {};
      if (msg.params.via.array.size == 0) return rpc::encode_request(msg.id, msg.method);
      return rpc::encode_request(msg.id, msg.method, rpc::packed_view{rpc::packed_arg(msg)});
    case rpc::kind::notification:
      if (msg.params.via.array.size != 1) return {};
      return rpc::encode_notification(msg.method, rpc::packed_view{rpc::packed_arg(msg)});
    case rpc::kind::response:
      if (auto err = rpc::error_of(msg); err.code != berth::errc::none)
        return rpc::encode_error(msg.id, err.code, err.message);
      return rpc::encode_result(msg.id, rpc::packed_view{rpc::pack(msg.result)});
  }
  return {};
}

void check_shape(const rpc::message& msg) {
  if (msg.type == rpc::kind::response) return;
  require(!msg.method.empty() && msg.method.size() <= 128, "method name out of bounds");
  require(msg.params.type == msgpack::type::ARRAY, "params is not an array");
}

void check_roundtrip(const rpc::message& msg) {
  auto bytes = reencode(msg);
  if (bytes.empty()) return;
  rpc::decoder d;
  d.feed(bytes.data(), bytes.size());
  rpc::message again;
  require(d.next(again), "a re-encoded message does not decode");
  require(d.buffered() == 0, "a re-encoded message leaves bytes behind");
  require(again.type == msg.type && again.id == msg.id && again.method == msg.method,
          "a re-encoded message has another type, id or method");
  if (msg.type == rpc::kind::response) {
    auto a = rpc::error_of(msg);
    auto b = rpc::error_of(again);
    require(a.code == b.code && a.message == b.message, "a re-encoded error differs");
    if (a.code == berth::errc::none)
      require(rpc::pack(msg.result) == rpc::pack(again.result), "a re-encoded result differs");
  } else {
    require(rpc::packed_arg(msg) == rpc::packed_arg(again), "a re-encoded argument differs");
  }
}

void check_message(const rpc::message& msg) {
  check_shape(msg);
  check_roundtrip(msg);
  if (msg.type == rpc::kind::response) {
    convert_results<api::empty, api::system_info, std::vector<api::image_info>, api::upload,
                    api::pushed, api::removed, api::image_detail, api::created, api::exec_started,
                    api::ping_result, api::container_stats, api::file_info,
                    std::vector<api::file_info>, api::file_data, api::volume_info,
                    std::vector<api::container_info>, api::container_info, api::network_info,
                    api::exit_info, api::stream>(msg);
    return;
  }
  convert_args<api::upload_chunk, api::upload, api::pull_request, api::push_request,
               api::tag_request, api::image_remove_request, api::prune_request, api::save_request,
               api::image_ref, api::login_request, api::logout_request, api::container_spec,
               api::container_ref, api::stop_request, api::kill_request, api::attach_request,
               api::exec_request, api::stdin_request, api::resize_request, api::file_ref,
               api::file_read_request, api::file_write_request, api::file_spec,
               api::volume_create_request, api::volume_ref, api::volume_remove_request,
               api::remove_request, api::list_request, api::logs_request,
               api::network_create_request, api::network_ref, api::network_connect_request,
               api::stream, api::stream_data, api::stream_end, api::progress>(msg);
}

// Nesting depth of `o` counted as the unpacker counts it: only arrays and maps with entries
// nest (an empty one is a leaf).
size_t depth_of(const msgpack::object& o) {
  size_t deepest = 0;
  if (o.type == msgpack::type::ARRAY && o.via.array.size > 0) {
    for (uint32_t i = 0; i < o.via.array.size; ++i)
      deepest = std::max(deepest, depth_of(o.via.array.ptr[i]));
    return 1 + deepest;
  }
  if (o.type == msgpack::type::MAP && o.via.map.size > 0) {
    for (uint32_t i = 0; i < o.via.map.size; ++i)
      deepest = std::max({deepest, depth_of(o.via.map.ptr[i].key), depth_of(o.via.map.ptr[i].val)});
    return 1 + deepest;
  }
  return 0;
}

// Every array, map, string, binary and extension in `o` is within `lim`.
void check_sizes(const msgpack::object& o, const rpc::limits& lim) {
  switch (o.type) {
    case msgpack::type::STR:
      require(o.via.str.size <= lim.max_blob, "a string over max_blob was decoded");
      break;
    case msgpack::type::BIN:
      require(o.via.bin.size <= lim.max_blob, "a binary over max_blob was decoded");
      break;
    case msgpack::type::EXT:
      require(o.via.ext.size <= lim.max_blob, "an extension over max_blob was decoded");
      break;
    case msgpack::type::ARRAY:
      require(o.via.array.size <= lim.max_elements, "an array over max_elements was decoded");
      for (uint32_t i = 0; i < o.via.array.size; ++i) check_sizes(o.via.array.ptr[i], lim);
      break;
    case msgpack::type::MAP:
      require(o.via.map.size <= lim.max_elements, "a map over max_elements was decoded");
      for (uint32_t i = 0; i < o.via.map.size; ++i) {
        check_sizes(o.via.map.ptr[i].key, lim);
        check_sizes(o.via.map.ptr[i].val, lim);
      }
      break;
    default:
      break;
  }
}

// A decoded message respects the decoder's limits: its objects sit inside the non-empty
// envelope array, one level down.
void check_limits(const rpc::message& msg, const rpc::limits& lim) {
  for (const auto* o : {&msg.params, &msg.error, &msg.result}) {
    require(1 + depth_of(*o) <= lim.max_depth, "a message nesting over max_depth was decoded");
    check_sizes(*o, lim);
  }
}

// The bytes of a message's objects, as packed right after it was decoded.
std::string packed_objects(const rpc::message& msg) {
  return rpc::pack(msg.params) + rpc::pack(msg.error) + rpc::pack(msg.result);
}

// Feeds `data` to a decoder in pieces, keeping decoded messages until the end: their objects
// point into the decoder's buffers, which later feeds grow, and must still read the same then.
void run(const uint8_t* data, size_t size, rpc::limits lim) {
  rpc::decoder d{lim};
  std::vector<std::pair<rpc::message, std::string>> kept;
  // The first byte picks the piece size (1 to 256), so that messages arrive split anywhere.
  size_t piece = size > 0 ? static_cast<size_t>(data[0]) + 1 : 1;
  const char* p = reinterpret_cast<const char*>(data);
  try {
    for (size_t off = 0; off < size; off += piece) {
      d.feed(p + off, std::min(piece, size - off));
      require(d.buffered() <= lim.max_message, "the decoder holds more than max_message bytes");
      rpc::message msg;
      while (d.next(msg)) {
        check_limits(msg, lim);
        check_message(msg);
        auto bytes = packed_objects(msg);
        if (kept.size() < 64) kept.emplace_back(std::move(msg), std::move(bytes));
      }
    }
  } catch (const rpc::protocol_error&) {
    // The owner closes the connection; nothing more to check on this stream.
  }
  for (const auto& [msg, bytes] : kept)
    require(packed_objects(msg) == bytes, "a message changed while the decoder took more bytes");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (1u << 20)) return -1;
  run(data, size, rpc::limits{});
  // Tight bounds, so that inputs reach every limit the decoder has.
  run(data, size, rpc::limits{4096, 4, 16, 256});
  return 0;
}
