// codec.cpp: the msgpack-RPC decoder's checks and the encoders that need no template.
#include "berth/rpc/codec.hpp"

#include <cstring>

namespace berth::rpc {

namespace {

constexpr std::size_t max_method = 128;

msgpack::unpack_limit to_unpack_limit(const limits& lim) {
  return msgpack::unpack_limit(lim.max_elements, lim.max_elements, lim.max_blob, lim.max_blob,
                               lim.max_blob, lim.max_depth);
}

// The unpacker references strings and binaries in its own buffer instead of copying them; the
// object_handle it returns keeps that buffer alive.
bool reference_all(msgpack::type::object_type, std::size_t, void*) {
  return true;
}

bool is_uint(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER;
}

std::string method_of(const msgpack::object& o) {
  if (o.type != msgpack::type::STR) throw protocol_error("method is not a string");
  if (o.via.str.size == 0 || o.via.str.size > max_method)
    throw protocol_error("method name is empty or too long");
  return {o.via.str.ptr, o.via.str.size};
}

uint32_t id_of(const msgpack::object& o) {
  if (!is_uint(o) || o.via.u64 > UINT32_MAX) throw protocol_error("message id is not a uint32");
  return static_cast<uint32_t>(o.via.u64);
}

void check_params(const msgpack::object& o) {
  if (o.type != msgpack::type::ARRAY) throw protocol_error("params is not an array");
}

}  // namespace

decoder::decoder(limits lim)
    : limits_(lim),
      unpacker_(std::make_unique<msgpack::unpacker>(reference_all, nullptr, 64 * 1024,
                                                    to_unpack_limit(lim))) {}

void decoder::feed(const char* data, std::size_t size) {
  // message_size() is the part of the current message already parsed plus every byte not yet
  // parsed: msgpack consumes a message's elements as they arrive, so nonparsed_size() alone
  // would let a message of many small elements grow without bound.
  if (unpacker_->message_size() + size > limits_.max_message)
    throw protocol_error("message exceeds " + std::to_string(limits_.max_message) + " bytes");
  unpacker_->reserve_buffer(size);
  std::memcpy(unpacker_->buffer(), data, size);
  unpacker_->buffer_consumed(size);
}

bool decoder::next(message& out) {
  msgpack::object_handle handle;
  try {
    if (!unpacker_->next(handle)) return false;
  } catch (const msgpack::depth_size_overflow&) {
    throw protocol_error("message nests deeper than " + std::to_string(limits_.max_depth));
  } catch (const msgpack::size_overflow&) {
    throw protocol_error("an array, map, string or binary exceeds its limit");
  } catch (const std::exception& e) {
    throw protocol_error(std::string("malformed msgpack: ") + e.what());
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 3)
    throw protocol_error("message is not an array of 3 or 4 elements");
  const auto* e = root.via.array.ptr;
  auto n = root.via.array.size;
  if (!is_uint(e[0]) || e[0].via.u64 > 2) throw protocol_error("unknown message type");
  message msg;
  msg.type = static_cast<kind>(e[0].via.u64);
  switch (msg.type) {
    case kind::request:
      if (n != 4) throw protocol_error("request is not [0, id, method, params]");
      msg.id = id_of(e[1]);
      msg.method = method_of(e[2]);
      check_params(e[3]);
      msg.params = e[3];
      break;
    case kind::response:
      if (n != 4) throw protocol_error("response is not [1, id, error, result]");
      msg.id = id_of(e[1]);
      msg.error = e[2];
      msg.result = e[3];
      break;
    case kind::notification:
      if (n != 3) throw protocol_error("notification is not [2, method, params]");
      msg.method = method_of(e[1]);
      check_params(e[2]);
      msg.params = e[2];
      break;
  }
  msg.handle = std::move(handle);
  out = std::move(msg);
  return true;
}

void decoder::reset() {
  unpacker_ = std::make_unique<msgpack::unpacker>(reference_all, nullptr, 64 * 1024,
                                                  to_unpack_limit(limits_));
}

std::string encode_request(uint32_t id, std::string_view method) {
  byte_buffer buf;
  msgpack::packer<byte_buffer> pk(buf);
  pk.pack_array(4);
  pk.pack_uint8(0);
  pk.pack_uint32(id);
  pk.pack(method);
  pk.pack_array(0);
  return std::move(buf.data);
}

std::string encode_error(uint32_t id, errc code, std::string_view text) {
  byte_buffer buf;
  msgpack::packer<byte_buffer> pk(buf);
  pk.pack_array(4);
  pk.pack_uint8(1);
  pk.pack_uint32(id);
  pk.pack_map(2);
  pk.pack(std::string_view("code"));
  pk.pack_uint8(static_cast<uint8_t>(code));
  pk.pack(std::string_view("message"));
  pk.pack(text);
  pk.pack_nil();
  return std::move(buf.data);
}

void check_params_shape(const message& msg) {
  auto n = msg.params.type == msgpack::type::ARRAY ? msg.params.via.array.size : 0;
  if (n > 1)
    throw call_error(errc::invalid_argument,
                     "invalid argument to " + msg.method + ": params must be [] or [{...}], " +
                         "one map of named arguments, not " + std::to_string(n) + " elements");
  if (n == 1 && msg.params.via.array.ptr[0].type != msgpack::type::MAP)
    throw call_error(errc::invalid_argument,
                     "invalid argument to " + msg.method + ": the argument must be a map");
}

std::string packed_arg(const message& msg) {
  if (msg.params.type != msgpack::type::ARRAY || msg.params.via.array.size == 0)
    return std::string("\x80", 1);
  return pack(msg.params.via.array.ptr[0]);
}

error_info error_of(const message& msg) {
  if (msg.error.is_nil()) return {};
  error_info info;
  if (msg.error.type != msgpack::type::MAP) return {errc::protocol, "malformed error object"};
  for (uint32_t i = 0; i < msg.error.via.map.size; ++i) {
    const auto& kv = msg.error.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) continue;
    std::string_view key(kv.key.via.str.ptr, kv.key.via.str.size);
    if (key == "code" && is_uint(kv.val))
      info.code = is_known(kv.val.via.u64) ? static_cast<errc>(kv.val.via.u64) : errc::internal;
    else if (key == "message" && kv.val.type == msgpack::type::STR)
      info.message.assign(kv.val.via.str.ptr, kv.val.via.str.size);
  }
  if (info.code == errc::none) info.code = errc::internal;
  return info;
}

}  // namespace berth::rpc
