// vocabulary.cpp: reading berth's classes and texts back out of caf::error.
#include "berth/actors/vocabulary.hpp"

#include <caf/atom.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>
#include <caf/to_string.hpp>

namespace berth {

errc code_of(const caf::error& err) {
  if (!err) return errc::none;
  if (err.category() == caf::atom("berth"))
    return is_known(err.code()) ? static_cast<errc>(err.code()) : errc::internal;
  if (err.category() == caf::atom("system")) {
    switch (static_cast<caf::sec>(err.code())) {
      case caf::sec::request_timeout:
        return errc::timeout;
      case caf::sec::request_receiver_down:
        return errc::unavailable;
      case caf::sec::unexpected_message:
        return errc::no_such_method;
      default:
        return errc::internal;
    }
  }
  return errc::internal;
}

std::string describe(const caf::error& err) {
  if (!err) return {};
  const auto& ctx = err.context();
  if (err.category() == caf::atom("berth") && ctx.size() >= 1 && ctx.match_element<std::string>(0))
    return ctx.get_as<std::string>(0);
  return caf::to_string(err);
}

}  // namespace berth
