// fields: one field list per wire struct, for msgpack and for CAF alike.
//
// BERTH_FIELDS(type, a, b, c) inside a struct expands to MSGPACK_DEFINE_MAP(a, b, c) (a map keyed
// by the field names, in this order: the wire format) and to berth_fields(visitor), which calls
// visitor(a, b, c) on the same fields. actors/vocabulary.hpp turns that into the inspect() CAF
// needs, so a field added to the list reaches the wire, the store and the actors at once and the
// lists cannot drift. No CAF here: the static guest agent and the CLI include it.
#pragma once

#ifndef MSGPACK_NO_BOOST
#define MSGPACK_NO_BOOST
#endif
#include <msgpack.hpp>

/// The fields of a wire struct named `type`: its msgpack map and a visitor over the same list.
#define BERTH_FIELDS(type, ...)                         \
  static constexpr const char* berth_type_name = #type; \
  template <class Visitor>                              \
  decltype(auto) berth_fields(Visitor&& visit) {        \
    return visit(__VA_ARGS__);                          \
  }                                                     \
  template <class Visitor>                              \
  decltype(auto) berth_fields(Visitor&& visit) const {  \
    return visit(__VA_ARGS__);                          \
  }                                                     \
  MSGPACK_DEFINE_MAP(__VA_ARGS__)
