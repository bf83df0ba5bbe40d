// Tests for BERTH_FIELDS (rpc/fields.hpp) and the inspect() vocabulary.hpp makes of it: a struct's
// msgpack map and CAF's view list the same fields, and a value with every field set survives a
// trip through msgpack and one through CAF's binary serialization. Also pins the wire: the bytes
// equal those of a struct declared the old way, with MSGPACK_DEFINE_MAP.
#include "berth/actors/vocabulary.hpp"
#include "berth/rpc/codec.hpp"

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/meta/type_name.hpp>
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <type_traits>
#include <vector>

// No `using namespace berth`: inspect() must be found as CAF finds it, by argument-dependent
// lookup.
namespace api = berth::api;
namespace agent = berth::agent;
namespace rpc = berth::rpc;

namespace {

// A CAF inspector that only counts what inspect() hands it and keeps the type name.
struct field_counter {
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;
  std::size_t fields = 0;
  std::string type_name;
  template <class... Ts>
  void operator()(Ts&&... xs) {
    (count(xs), ...);
  }
  void count(const caf::meta::type_name_t& name) { type_name = name.value; }
  template <class T>
  void count(const T&) {
    ++fields;
  }
};

template <class T>
constexpr bool has_fields_v = berth::fields::has_fields<std::decay_t<T>>::value;

// Sets every field to a value that is not its default, recursing into nested structs.
int counter = 0;
template <class T>
void fill(T& x);
template <class T>
void fill_one(T& x) {
  if constexpr (has_fields_v<T>) {
    fill(x);
  } else if constexpr (std::is_same_v<T, bool>) {
    x = !x;
  } else if constexpr (std::is_arithmetic_v<T>) {
    x = static_cast<T>(++counter % 100 + 1);
  } else if constexpr (std::is_same_v<T, std::string>) {
    x = "v" + std::to_string(++counter);
  } else if constexpr (std::is_same_v<T, std::vector<char>>) {
    x = {'a', static_cast<char>(++counter)};
  } else if constexpr (std::is_same_v<T, std::map<std::string, std::string>>) {
    x = {{"k" + std::to_string(++counter), "v"}};
  } else {
    x.resize(2);
    for (auto& e : x) fill_one(e);
  }
}
template <class T>
void fill(T& x) {
  x.berth_fields([](auto&... xs) { (fill_one(xs), ...); });
}

// The keys of a packed msgpack map, in order.
std::vector<std::string> keys_of(const std::string& bytes) {
  auto handle = msgpack::unpack(bytes.data(), bytes.size());
  const auto& obj = handle.get();
  REQUIRE(obj.type == msgpack::type::MAP);
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < obj.via.map.size; ++i)
    keys.push_back(obj.via.map.ptr[i].key.as<std::string>());
  return keys;
}

template <class T>
void check_agreement(const char* name) {
  INFO(name);
  T x;
  fill(x);
  auto bytes = rpc::pack(x);
  // One list: the map has as many keys as CAF sees fields, and the type name is the struct's.
  field_counter counter;
  inspect(counter, x);
  CHECK(counter.type_name == name);
  CHECK(keys_of(bytes).size() == counter.fields);
  // Every field survives msgpack.
  auto via_msgpack = rpc::unpack_as<T>(bytes);
  CHECK(rpc::pack(via_msgpack) == bytes);
  // Every field survives CAF.
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  REQUIRE_FALSE(sink(x));
  T via_caf;
  caf::binary_deserializer source{nullptr, buf};
  REQUIRE_FALSE(source(via_caf));
  CHECK(rpc::pack(via_caf) == bytes);
  // And filling changed every field from its default.
  CHECK(rpc::pack(T{}) != bytes);
}

// stream_end as it was declared before BERTH_FIELDS.
struct old_stream_end {
  uint32_t stream_id = 0;
  bool has_exit_code = false;
  int32_t exit_code = 0;
  std::string error;
  MSGPACK_DEFINE_MAP(stream_id, has_exit_code, exit_code, error);
};

}  // namespace

TEST_CASE("msgpack and CAF see the same fields of a payload, and both keep every field") {
  check_agreement<api::system_info>("system_info");
  check_agreement<api::container_spec>("container_spec");
  check_agreement<api::container_info>("container_info");
  check_agreement<api::image_detail>("image_detail");
  check_agreement<api::file_write_request>("file_write_request");
  check_agreement<api::network_info>("network_info");
  check_agreement<berth::container_record>("container_record");
  check_agreement<berth::image_record>("image_record");
  check_agreement<agent::process_spec>("process_spec");
  check_agreement<agent::vm_stats>("vm_stats");
}

TEST_CASE("a payload's msgpack map keeps the field names and order of its declaration") {
  CHECK(keys_of(rpc::pack(api::stream_end{})) ==
        std::vector<std::string>{"stream_id", "has_exit_code", "exit_code", "error"});
  api::stream_end now{7, true, 3, "boom"};
  old_stream_end before{7, true, 3, "boom"};
  CHECK(rpc::pack(now) == rpc::pack(before));
}
