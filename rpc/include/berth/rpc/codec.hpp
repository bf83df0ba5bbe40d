// codec: msgpack-RPC framing for every berth connection (CLI <-> berthd, berthd <-> berth-init).
//
// A connection carries a stream of msgpack objects, each one message of the public msgpack-RPC
// spec: request [0, id, method, params], response [1, id, error, result], notification
// [2, method, params]. berth always sends params as an array of zero or one element, the one
// element being a map of named arguments. docs/protocol.md is the byte-level reference.
//
// The decoder treats its input as hostile: it bounds the size of a message (also while it is
// still arriving), the nesting depth and the element count of every array and map, and checks the
// shape of each message. Anything else throws protocol_error, and the owner closes the connection.
// No CAF here: the static guest agent links this too.
#pragma once

#include "berth/rpc/arg_errors.hpp"
#include "berth/rpc/errc.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

MSGPACK_ADD_ENUM(berth::errc);

namespace berth::rpc {

/// Bounds a decoder enforces on its input.
struct limits {
  /// Bytes of one message, counted while it arrives.
  std::size_t max_message = 8u << 20;
  /// Nesting depth of arrays and maps.
  std::size_t max_depth = 32;
  /// Entries of one array or map.
  std::size_t max_elements = 1u << 16;
  /// Bytes of one string or binary.
  std::size_t max_blob = 4u << 20;
};

/// The three message types of msgpack-RPC.
enum class kind : uint8_t { request = 0, response = 1, notification = 2 };

/// A peer broke the protocol; the connection cannot be trusted any more.
class protocol_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// The error of a failed call: a stable class and a message for people.
struct error_info {
  errc code = errc::none;
  std::string message;
  MSGPACK_DEFINE_MAP(code, message);
};

/// A call failed at the peer; thrown by the blocking client and by arg<T>() on bad arguments.
class call_error : public std::runtime_error {
 public:
  /// Makes an error of class `code` with a message for people.
  call_error(errc code, std::string message)
      : std::runtime_error(std::move(message)), code_(code) {}
  /// The class of the error.
  errc code() const { return code_; }
  /// The error as it travels on the wire.
  error_info info() const { return {code_, what()}; }

 private:
  errc code_;
};

/// One decoded message. Its objects live in `handle`'s zone, so the message is move-only.
struct message {
  kind type = kind::request;
  uint32_t id = 0;         ///< Requests and responses.
  std::string method;      ///< Requests and notifications.
  msgpack::object params;  ///< Requests and notifications: always an array.
  msgpack::object error;   ///< Responses: nil on success, else an error_info map.
  msgpack::object result;  ///< Responses.
  msgpack::object_handle handle;
};

/// Splits a byte stream into messages, enforcing `limits`.
class decoder {
 public:
  /// Makes a decoder with the given bounds.
  explicit decoder(limits lim = {});

  /// Appends received bytes; throws protocol_error when the message being received (with any
  /// bytes after it) would exceed max_message, however it is split into elements and reads.
  void feed(const char* data, std::size_t size);

  /// Takes the next complete message; false when more bytes are needed. Throws protocol_error.
  bool next(message& out);

  /// Drops everything buffered (the peer reconnected).
  void reset();

  /// Bytes received but not yet part of a returned message.
  std::size_t buffered() const { return unpacker_->nonparsed_size(); }

 private:
  // Held by pointer: msgpack's parser keeps references into the unpacker object itself, so it
  // must never be moved or move-assigned (that corrupts memory on the next buffer growth).
  limits limits_;
  std::unique_ptr<msgpack::unpacker> unpacker_;
};

/// Growable byte buffer that msgpack's packer writes into.
struct byte_buffer {
  std::string data;
  void write(const char* p, std::size_t n) { data.append(p, n); }
};

/// Packs any msgpack-able value into its bytes.
template <class T>
std::string pack(const T& value) {
  byte_buffer buf;
  msgpack::pack(buf, value);
  return std::move(buf.data);
}

/// Raw, already packed msgpack bytes, inserted as they are.
struct packed_view {
  std::string_view bytes;
};

/// Encodes a request with one argument map (or raw packed argument bytes).
template <class T>
std::string encode_request(uint32_t id, std::string_view method, const T& arg) {
  byte_buffer buf;
  msgpack::packer<byte_buffer> pk(buf);
  pk.pack_array(4);
  pk.pack_uint8(0);
  pk.pack_uint32(id);
  pk.pack(method);
  pk.pack_array(1);
  if constexpr (std::is_same_v<T, packed_view>)
    buf.write(arg.bytes.data(), arg.bytes.size());
  else
    pk.pack(arg);
  return std::move(buf.data);
}

/// Encodes a request without arguments.
std::string encode_request(uint32_t id, std::string_view method);

/// Encodes a notification with one argument map (or raw packed argument bytes).
template <class T>
std::string encode_notification(std::string_view method, const T& arg) {
  byte_buffer buf;
  msgpack::packer<byte_buffer> pk(buf);
  pk.pack_array(3);
  pk.pack_uint8(2);
  pk.pack(method);
  pk.pack_array(1);
  if constexpr (std::is_same_v<T, packed_view>)
    buf.write(arg.bytes.data(), arg.bytes.size());
  else
    pk.pack(arg);
  return std::move(buf.data);
}

/// Encodes a successful response (or one whose result is raw packed bytes).
template <class T>
std::string encode_result(uint32_t id, const T& result) {
  byte_buffer buf;
  msgpack::packer<byte_buffer> pk(buf);
  pk.pack_array(4);
  pk.pack_uint8(1);
  pk.pack_uint32(id);
  pk.pack_nil();
  if constexpr (std::is_same_v<T, packed_view>)
    buf.write(result.bytes.data(), result.bytes.size());
  else
    pk.pack(result);
  return std::move(buf.data);
}

/// Encodes a failed response.
std::string encode_error(uint32_t id, errc code, std::string_view text);

/// The single argument map of a request or notification, converted to T; an absent argument
/// gives a default T. Throws call_error(invalid_argument) when the types do not match, naming
/// the field and the type it must have ("invalid argument to container.create: field 'name'
/// must be a string").
template <class T>
T arg(const message& msg) {
  T out{};
  if (msg.params.via.array.size == 0) return out;
  const auto& given = msg.params.via.array.ptr[0];
  try {
    given.convert(out);
  } catch (const std::exception& e) {
    auto why = describe_bad_arg<T>(given);
    throw call_error(errc::invalid_argument, "invalid argument to " + msg.method + ": " +
                                                 (why.empty() ? std::string(e.what()) : why));
  }
  return out;
}

/// Checks the shape of a request's params: an array of zero elements or of one map (the named
/// arguments). Throws call_error(invalid_argument) otherwise ("[5]", "[{}, {}]", "[nil]"), so a
/// method that takes no argument refuses one of the wrong shape as well.
void check_params_shape(const message& msg);

/// The raw bytes of a request's or notification's argument map ("\x80", an empty map, if none).
std::string packed_arg(const message& msg);

/// The result of a response converted to T; throws call_error if the response is an error or the
/// result does not have T's shape.
template <class T>
T result_as(const message& msg);

/// The error of a response, or code none on success. A malformed error object maps to protocol.
error_info error_of(const message& msg);

template <class T>
T result_as(const message& msg) {
  if (auto err = error_of(msg); err.code != errc::none) throw call_error(err.code, err.message);
  T out{};
  try {
    msg.result.convert(out);
  } catch (const std::exception& e) {
    throw call_error(errc::protocol, std::string("unexpected result: ") + e.what());
  }
  return out;
}

/// Converts packed bytes (of one object, bounded like the decoder's input) to T; throws
/// call_error(invalid_argument) on mismatch.
template <class T>
T unpack_as(std::string_view bytes) {
  T out{};
  try {
    auto handle = msgpack::unpack(
        bytes.data(), bytes.size(), nullptr, nullptr,
        msgpack::unpack_limit(1u << 16, 1u << 16, 8u << 20, 8u << 20, 8u << 20, 32));
    handle.get().convert(out);
  } catch (const std::exception& e) {
    throw call_error(errc::invalid_argument, std::string("bad value: ") + e.what());
  }
  return out;
}

}  // namespace berth::rpc
