// guest_wire.cpp: counting, splitting and converting what a guest agent sends (see the header).
#include "berth/vm/guest_wire.hpp"

#include <algorithm>
#include <cstdio>

namespace berth::vm {

namespace {

// Bytes of a msgpack header starting with `b` (the type byte and its length field), or 0 for the
// one byte msgpack never uses.
std::size_t header_size(unsigned char b) {
  switch (b) {
    case 0xc1:
      return 0;
    case 0xc4:
    case 0xc7:
    case 0xd9:
      return 2;
    case 0xc5:
    case 0xc8:
    case 0xda:
    case 0xdc:
    case 0xde:
      return 3;
    case 0xc6:
    case 0xc9:
    case 0xdb:
    case 0xdd:
    case 0xdf:
      return 5;
    default:
      return 1;
  }
}

uint64_t big_endian(const unsigned char* p, std::size_t n) {
  uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

void object_counter::on_header() {
  auto b = head_[0];
  uint64_t children = 0;
  if (b >= 0x80 && b <= 0x8f) {
    children = 2u * (b & 0x0fu);
  } else if (b >= 0x90 && b <= 0x9f) {
    children = b & 0x0fu;
  } else if (b >= 0xa0 && b <= 0xbf) {
    skip_ = b & 0x1fu;
  } else {
    switch (b) {
      case 0xc4:
      case 0xc5:
      case 0xc6:
      case 0xd9:
      case 0xda:
      case 0xdb:
        skip_ = big_endian(head_ + 1, head_need_ - 1);
        break;
      case 0xc7:
      case 0xc8:
      case 0xc9:
        skip_ = big_endian(head_ + 1, head_need_ - 1) + 1;  // the ext's type byte, then its data
        break;
      case 0xdc:
      case 0xdd:
        children = big_endian(head_ + 1, head_need_ - 1);
        break;
      case 0xde:
      case 0xdf:
        children = 2 * big_endian(head_ + 1, head_need_ - 1);
        break;
      case 0xca:
      case 0xd2:
      case 0xce:
        skip_ = 4;
        break;
      case 0xcb:
      case 0xcf:
      case 0xd3:
        skip_ = 8;
        break;
      case 0xcc:
      case 0xd0:
        skip_ = 1;
        break;
      case 0xcd:
      case 0xd1:
        skip_ = 2;
        break;
      case 0xd4:
        skip_ = 2;
        break;
      case 0xd5:
        skip_ = 3;
        break;
      case 0xd6:
        skip_ = 5;
        break;
      case 0xd7:
        skip_ = 9;
        break;
      case 0xd8:
        skip_ = 17;
        break;
      default:  // nil, booleans, fixints
        break;
    }
  }
  --pending_;
  pending_ += children;
}

caf::error object_counter::feed(const char* data, std::size_t size) {
  auto p = reinterpret_cast<const unsigned char*>(data);
  std::size_t i = 0;
  while (i < size) {
    if (skip_ > 0) {
      auto n = static_cast<std::size_t>(std::min<uint64_t>(skip_, size - i));
      skip_ -= n;
      i += n;
    } else {
      if (head_len_ == 0) {
        if (pending_ == 0) {  // a new top-level object
          pending_ = 1;
          objects_ = 0;
        }
        head_need_ = header_size(p[i]);
        if (head_need_ == 0) return detail::wire_error("malformed msgpack: byte 0xc1");
        if (++objects_ > max_)
          return detail::wire_error("a message holds more than " + std::to_string(max_) +
                                    " msgpack objects");
      }
      auto n = std::min(head_need_ - head_len_, size - i);
      std::copy(p + i, p + i + n, head_ + head_len_);
      head_len_ += n;
      i += n;
      if (head_len_ < head_need_) continue;
      head_len_ = 0;
      on_header();
    }
    if (skip_ == 0 && head_len_ == 0 && pending_ == 0) {
      ++complete_;
      objects_ = 0;
    }
  }
  return {};
}

guest_reader::guest_reader()
    : decoder_(rpc::limits{guest_limits::max_message, guest_limits::max_depth,
                           guest_limits::max_elements, rpc::limits{}.max_blob}) {}

caf::error guest_reader::feed(const char* data, std::size_t size) {
  // Counted first: the decoder builds objects as bytes arrive, so it must never see a message
  // with more of them than the bound.
  if (auto err = counter_.feed(data, size)) return err;
  try {
    decoder_.feed(data, size);
  } catch (const rpc::protocol_error& e) {
    return detail::wire_error(e.what());
  }
  return {};
}

caf::expected<bool> guest_reader::next(rpc::message& out) {
  try {
    return decoder_.next(out);
  } catch (const rpc::protocol_error& e) {
    return detail::wire_error(e.what());
  } catch (const std::exception& e) {
    return detail::wire_error(std::string("malformed message: ") + e.what());
  }
}

std::string guest_text(std::string_view text, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

namespace detail {

caf::error wire_error(std::string text) {
  return make_error(errc::protocol, std::move(text));
}

caf::error check(const agent::output_chunk& x) {
  if (x.fd != 1 && x.fd != 2)
    return wire_error("output for fd " + std::to_string(x.fd) + " (only 1 and 2 exist)");
  if (x.data.size() > guest_limits::max_output_chunk)
    return wire_error("an output chunk of " + std::to_string(x.data.size()) + " bytes");
  return {};
}

caf::error check(const agent::vm_stats& x) {
  if (x.disks.size() > guest_limits::max_stat_devices ||
      x.networks.size() > guest_limits::max_stat_devices)
    return wire_error("stats of more than " + std::to_string(guest_limits::max_stat_devices) +
                      " devices");
  return {};
}

caf::error unpack_checked(std::string_view bytes, msgpack::object_handle& out) {
  if (bytes.size() > guest_limits::max_message)
    return wire_error("a value of " + std::to_string(bytes.size()) + " bytes");
  object_counter counter;
  if (auto err = counter.feed(bytes.data(), bytes.size())) return err;
  if (counter.complete() != 1 || counter.current() != 0)
    return wire_error(counter.complete() == 0 ? "a truncated value" : "bytes after the value");
  try {
    out = msgpack::unpack(
        bytes.data(), bytes.size(), nullptr, nullptr,
        msgpack::unpack_limit(guest_limits::max_elements, guest_limits::max_elements,
                              rpc::limits{}.max_blob, rpc::limits{}.max_blob,
                              rpc::limits{}.max_blob, guest_limits::max_depth));
  } catch (const std::exception& e) {
    return wire_error(std::string("malformed msgpack: ") + e.what());
  }
  return {};
}

}  // namespace detail

}  // namespace berth::vm
