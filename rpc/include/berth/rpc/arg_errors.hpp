// arg_errors: what was wrong with a request's argument map, in words a client can act on.
//
// msgpack's conversion of a map to a struct fails with std::bad_cast and no name. When it fails,
// arg<T>() (codec.hpp) asks describe_bad_arg<T>() which field it was: the map keys of a wire
// struct are its field names in declaration order (BERTH_FIELDS, fields.hpp), and its field
// visitor gives their types in the same order, so each key of the request is converted alone
// until one fails, and the message names that field and the type it must have. No CAF here.
#pragma once

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace berth::rpc {

namespace detail {

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct is_map : std::false_type {};
template <class K, class V, class C, class A>
struct is_map<std::map<K, V, C, A>> : std::true_type {};

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};

template <class T>
concept has_field_list = requires(T& t) {
  t.berth_fields([](auto&...) {});
};

}  // namespace detail

/// What a value of wire type T must look like ("a string", "an integer from 0 to 65535").
template <class T>
std::string expected_kind() {
  using U = std::remove_cv_t<T>;
  if constexpr (std::is_same_v<U, bool>) {
    return "a boolean";
  } else if constexpr (std::is_integral_v<U>) {
    return "an integer from " + std::to_string(std::numeric_limits<U>::min()) + " to " +
           std::to_string(std::numeric_limits<U>::max());
  } else if constexpr (std::is_enum_v<U>) {
    return "an integer";
  } else if constexpr (std::is_floating_point_v<U>) {
    return "a number";
  } else if constexpr (std::is_same_v<U, std::string>) {
    return "a string";
  } else if constexpr (std::is_same_v<U, std::vector<char>>) {
    return "binary data or a string";
  } else if constexpr (detail::is_vector<U>::value) {
    return "an array, each item " + expected_kind<typename U::value_type>();
  } else if constexpr (detail::is_map<U>::value) {
    return "a map, each value " + expected_kind<typename U::mapped_type>();
  } else if constexpr (detail::is_optional<U>::value) {
    return expected_kind<typename U::value_type>() + " or nil";
  } else {
    return "a map";
  }
}

/// Why `arg` (a request's argument, which did not convert to T) is wrong: "the argument must
/// be a map", or "field 'name' must be a string" for the first field that does not convert.
/// Empty when no single field explains it.
template <class T>
std::string describe_bad_arg(const msgpack::object& arg) {
  if (arg.type != msgpack::type::MAP) return "the argument must be a map";
  // The field names, from a default T packed as a map, and their types, in the same order.
  std::vector<std::string> names;
  std::vector<std::string> kinds;
  if constexpr (detail::has_field_list<T>) {
    T probe{};
    msgpack::sbuffer buf;
    msgpack::pack(buf, probe);
    auto handle = msgpack::unpack(buf.data(), buf.size());
    const auto& packed = handle.get();
    if (packed.type == msgpack::type::MAP)
      for (uint32_t i = 0; i < packed.via.map.size; ++i) {
        const auto& key = packed.via.map.ptr[i].key;
        if (key.type == msgpack::type::STR) names.emplace_back(key.via.str.ptr, key.via.str.size);
      }
    probe.berth_fields(
        [&](auto&... f) { (kinds.push_back(expected_kind<std::decay_t<decltype(f)>>()), ...); });
  }
  for (uint32_t i = 0; i < arg.via.map.size; ++i) {
    auto kv = arg.via.map.ptr[i];
    if (kv.key.type != msgpack::type::STR) continue;
    std::string key(kv.key.via.str.ptr, kv.key.via.str.size);
    msgpack::object single;
    single.type = msgpack::type::MAP;
    single.via.map.size = 1;
    single.via.map.ptr = &kv;
    try {
      T out{};
      single.convert(out);
    } catch (const std::exception&) {
      for (std::size_t n = 0; n < names.size() && n < kinds.size(); ++n)
        if (names[n] == key) return "field '" + key + "' must be " + kinds[n];
      return "field '" + key + "' has the wrong type";
    }
  }
  return {};
}

}  // namespace berth::rpc
