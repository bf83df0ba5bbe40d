// addr.cpp: IPv4 text, subnets, address management and link names.
#include "addr.hpp"

#include <openssl/evp.h>

#include <charconv>
#include <cstdio>

namespace berth::net {

std::optional<ipv4> parse_ipv4(std::string_view text) {
  uint32_t out = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (text.empty() || text.front() != '.') return std::nullopt;
      text.remove_prefix(1);
    }
    std::size_t digits = 0;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    // One to three digits, no leading zeros (010 is octal to some parsers, so refuse it).
    if (digits == 0 || digits > 3 || (digits > 1 && text[0] == '0')) return std::nullopt;
    unsigned value = 0;
    std::from_chars(text.data(), text.data() + digits, value);
    if (value > 255) return std::nullopt;
    out = (out << 8) | value;
    text.remove_prefix(digits);
  }
  if (!text.empty()) return std::nullopt;
  return ipv4{out};
}

std::string to_string(ipv4 a) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", a.value >> 24, (a.value >> 16) & 255,
                (a.value >> 8) & 255, a.value & 255);
  return buf;
}

bool subnet::overlaps(const subnet& other) const {
  auto shorter = prefix < other.prefix ? *this : other;
  auto longer = prefix < other.prefix ? other : *this;
  return shorter.contains(longer.network);
}

std::string to_string(const subnet& s) {
  return to_string(s.network) + "/" + std::to_string(s.prefix);
}

std::optional<subnet> parse_subnet(std::string_view text, bool strict) {
  auto slash = text.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  auto addr = parse_ipv4(text.substr(0, slash));
  auto bits = text.substr(slash + 1);
  if (!addr || bits.empty() || bits.size() > 2 || (bits.size() > 1 && bits[0] == '0'))
    return std::nullopt;
  unsigned prefix = 0;
  auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
  if (ec != std::errc{} || end != bits.data() + bits.size() || prefix > 32) return std::nullopt;
  subnet s;
  s.prefix = static_cast<uint8_t>(prefix);
  s.network = ipv4{addr->value & s.mask()};
  if (strict && s.network != *addr) return std::nullopt;
  return s;
}

std::optional<ipv4> next_free(const subnet& net, ipv4 gateway, const std::set<uint32_t>& taken) {
  if (net.prefix > 30) return std::nullopt;
  for (uint64_t v = net.first_host().value; v < net.broadcast().value; ++v) {
    ipv4 a{static_cast<uint32_t>(v)};
    if (a != gateway && !taken.count(a.value)) return a;
  }
  return std::nullopt;
}

std::optional<subnet> next_free_24(const subnet& pool, const std::vector<subnet>& used) {
  if (pool.prefix > 24) return std::nullopt;
  uint64_t count = uint64_t{1} << (24 - pool.prefix);
  for (uint64_t i = 0; i < count; ++i) {
    subnet candidate{ipv4{pool.network.value + static_cast<uint32_t>(i << 8)}, 24};
    bool clash = false;
    for (auto& u : used) clash = clash || u.overlaps(candidate);
    if (!clash) return candidate;
  }
  return std::nullopt;
}

std::string bridge_name(std::string_view network_id) {
  return "brth-" + std::string(network_id.substr(0, 8));
}

std::string tap_name(std::string_view container_id, uint32_t index) {
  return "tb" + std::string(container_id.substr(0, 10)) + std::to_string(index);
}

std::string mac_for(std::string_view container_id, std::string_view network_id) {
  std::string input(container_id);
  input += network_id;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, EVP_sha256(), nullptr);
  char buf[18];
  std::snprintf(buf, sizeof buf, "02:%02x:%02x:%02x:%02x:%02x", digest[0], digest[1], digest[2],
                digest[3], digest[4]);
  return buf;
}

std::string bridge_mac(std::string_view network_id) {
  return mac_for("bridge", network_id);
}

bool valid_network_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name[0])) return false;
  for (char c : name)
    if (!alnum(c) && c != '_' && c != '.' && c != '-') return false;
  return true;
}

}  // namespace berth::net
