// network.cpp: rtnetlink requests and acknowledgements, interfaces by MAC, configure_network.
#include "network.hpp"

#include "berth/os/fd.hpp"
#include "boot.hpp"
#include "log.hpp"
#include "users.hpp"

#include "berth/rpc/codec.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <thread>

namespace berth::agent {

namespace netlink {

namespace {

constexpr std::size_t align4(std::size_t n) {
  return (n + 3) & ~std::size_t{3};
}

// A request under construction: nlmsghdr, the fixed family header, then attributes.
class request {
 public:
  request(uint16_t type, uint16_t flags, uint32_t seq) {
    nlmsghdr h{};
    h.nlmsg_type = type;
    h.nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | NLM_F_ACK | flags);
    h.nlmsg_seq = seq;
    append(&h, sizeof h);
  }

  template <class T>
  void body(const T& header) {
    append(&header, sizeof header);
  }

  void attr(uint16_t type, const void* data, std::size_t size) {
    rtattr a{};
    a.rta_type = type;
    a.rta_len = static_cast<uint16_t>(sizeof a + size);
    append(&a, sizeof a);
    append(data, size);
  }

  // The finished message, its length filled in.
  std::vector<char> done() {
    auto len = static_cast<uint32_t>(buf_.size());
    std::memcpy(buf_.data() + offsetof(nlmsghdr, nlmsg_len), &len, sizeof len);
    return std::move(buf_);
  }

 private:
  void append(const void* data, std::size_t size) {
    auto at = buf_.size();
    buf_.resize(align4(at + size));
    std::memcpy(buf_.data() + at, data, size);
  }

  std::vector<char> buf_;
};

}  // namespace

std::vector<char> link_up_request(uint32_t seq, int ifindex, uint32_t mtu) {
  request r(RTM_NEWLINK, 0, seq);
  ifinfomsg ifi{};
  ifi.ifi_family = AF_UNSPEC;
  ifi.ifi_index = ifindex;
  ifi.ifi_flags = IFF_UP;
  ifi.ifi_change = IFF_UP;
  r.body(ifi);
  if (mtu != 0) r.attr(IFLA_MTU, &mtu, sizeof mtu);
  return r.done();
}

std::vector<char> address_request(uint32_t seq, int ifindex, in_addr address, uint8_t prefix_len) {
  request r(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, seq);
  ifaddrmsg ifa{};
  ifa.ifa_family = AF_INET;
  ifa.ifa_prefixlen = prefix_len;
  ifa.ifa_scope = RT_SCOPE_UNIVERSE;
  ifa.ifa_index = static_cast<uint32_t>(ifindex);
  r.body(ifa);
  r.attr(IFA_LOCAL, &address, sizeof address);
  r.attr(IFA_ADDRESS, &address, sizeof address);
  if (prefix_len <= 30) {
    uint32_t host_mask = prefix_len == 0 ? 0xffffffffu : (0xffffffffu >> prefix_len);
    in_addr broadcast{htonl(ntohl(address.s_addr) | host_mask)};
    r.attr(IFA_BROADCAST, &broadcast, sizeof broadcast);
  }
  return r.done();
}

std::vector<char> default_route_request(uint32_t seq, in_addr gateway, int ifindex) {
  request r(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_REPLACE, seq);
  rtmsg rt{};
  rt.rtm_family = AF_INET;
  rt.rtm_dst_len = 0;
  rt.rtm_table = RT_TABLE_MAIN;
  rt.rtm_protocol = RTPROT_BOOT;
  rt.rtm_scope = RT_SCOPE_UNIVERSE;
  rt.rtm_type = RTN_UNICAST;
  r.body(rt);
  r.attr(RTA_GATEWAY, &gateway, sizeof gateway);
  auto oif = static_cast<uint32_t>(ifindex);
  r.attr(RTA_OIF, &oif, sizeof oif);
  return r.done();
}

ack parse_ack(const char* data, std::size_t size, uint32_t seq) {
  ack out;
  std::size_t off = 0;
  auto malformed = [&] {
    out.found = true;
    out.error = EBADMSG;
    out.message = "malformed netlink answer";
    return out;
  };
  while (size - off >= sizeof(nlmsghdr)) {
    nlmsghdr h;
    std::memcpy(&h, data + off, sizeof h);
    if (h.nlmsg_len < sizeof h || h.nlmsg_len > size - off) return malformed();
    if (h.nlmsg_seq == seq && h.nlmsg_type == NLMSG_ERROR) {
      const char* body = data + off + sizeof h;
      std::size_t body_len = h.nlmsg_len - sizeof h;
      if (body_len < sizeof(nlmsgerr)) return malformed();
      nlmsgerr e;
      std::memcpy(&e, body, sizeof e);
      out.found = true;
      out.error = e.error < 0 ? -e.error : e.error;
      // Extended ack attributes follow the echoed request (only its header when capped).
      if (h.nlmsg_flags & NLM_F_ACK_TLVS) {
        std::size_t at = sizeof e;
        if (!(h.nlmsg_flags & NLM_F_CAPPED)) {
          if (e.msg.nlmsg_len < sizeof(nlmsghdr)) return out;
          at = sizeof e - sizeof(nlmsghdr) + align4(e.msg.nlmsg_len);
        }
        while (at < body_len && body_len - at >= sizeof(nlattr)) {
          nlattr a;
          std::memcpy(&a, body + at, sizeof a);
          if (a.nla_len < sizeof a || a.nla_len > body_len - at) break;
          if ((a.nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
            std::string_view text(body + at + sizeof a, a.nla_len - sizeof a);
            out.message = std::string(text.substr(0, text.find('\0')));
          }
          at += align4(a.nla_len);
        }
      }
      return out;
    }
    off += std::min<std::size_t>(align4(h.nlmsg_len), size - off);
  }
  return out;
}

}  // namespace netlink

std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
  if (text.size() != 17) return std::nullopt;
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::array<uint8_t, 6> out{};
  for (std::size_t i = 0; i < 6; ++i) {
    int hi = hex(text[i * 3]);
    int lo = hex(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) return std::nullopt;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return out;
}

std::string find_interface_by_mac(const std::string& sys_class_net,
                                  const std::array<uint8_t, 6>& mac) {
  DIR* dir = ::opendir(sys_class_net.c_str());
  if (!dir) return {};
  std::string found;
  while (auto* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    auto text = read_file(sys_class_net + "/" + e->d_name + "/address");
    while (!text.empty() && (text.back() == '\n' || text.back() == '\0')) text.pop_back();
    if (auto m = parse_mac(text); m && *m == mac) {
      found = e->d_name;
      break;
    }
  }
  ::closedir(dir);
  return found;
}

namespace {

// A NETLINK_ROUTE socket of the calling thread's network namespace that sends one request at a
// time and waits (at most two seconds) for its acknowledgement.
class rtnl {
 public:
  rtnl() : fd_(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)) {
    if (!fd_) fail("socket");
    int one = 1;
    // Short acknowledgements with the kernel's own error text; both are optional.
    ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
    ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) fail("bind");
  }

  uint32_t next_seq() { return ++seq_; }

  // Sends `msg` (whose sequence number is `seq`); throws io with `what` on failure.
  void call(const std::vector<char>& msg, uint32_t seq, const std::string& what) {
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    if (::sendto(fd_.get(), msg.data(), msg.size(), 0, reinterpret_cast<sockaddr*>(&kernel),
                 sizeof kernel) != static_cast<ssize_t>(msg.size()))
      fail(what);
    char buf[16384];
    for (int rounds = 0; rounds < 64; ++rounds) {
      pollfd p{fd_.get(), POLLIN, 0};
      int ready = ::poll(&p, 1, 2000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) {
        errno = ready == 0 ? ETIMEDOUT : errno;
        fail(what);
      }
      ssize_t n = ::recv(fd_.get(), buf, sizeof buf, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        fail(what);
      }
      auto a = netlink::parse_ack(buf, static_cast<std::size_t>(n), seq);
      if (!a.found) continue;
      if (a.error == 0) return;
      std::string text = what + ": " + std::strerror(a.error);
      if (!a.message.empty()) text += " (" + a.message + ")";
      throw rpc::call_error(errc::io, text);
    }
    errno = EPROTO;
    fail(what);
  }

 private:
  [[noreturn]] static void fail(const std::string& what) {
    throw rpc::call_error(errc::io, "netlink: " + what + ": " + std::strerror(errno));
  }

  os::unique_fd fd_;
  uint32_t seq_ = 0;
};

constexpr std::size_t max_interfaces = 16;

struct checked_interface {
  std::array<uint8_t, 6> mac{};
  in_addr address{};
  std::optional<in_addr> gateway;
  std::string name;
  int ifindex = 0;
};

in_addr parse_ipv4(const std::string& text, const std::string& what) {
  in_addr a{};
  if (::inet_pton(AF_INET, text.c_str(), &a) != 1)
    throw rpc::call_error(errc::invalid_argument,
                          what + " \"" + text + "\" is not an IPv4 address");
  return a;
}

int index_of(const std::string& name) {
  unsigned index = ::if_nametoindex(name.c_str());
  if (index == 0)
    throw rpc::call_error(errc::io, "interface " + name + ": " + std::strerror(errno));
  return static_cast<int>(index);
}

}  // namespace

void configure_network(const network_config& config, const network_setup& setup) {
  if (config.interfaces.size() > max_interfaces)
    throw rpc::call_error(errc::invalid_argument,
                          "at most " + std::to_string(max_interfaces) + " interfaces");
  // Every value is checked before anything changes.
  std::vector<checked_interface> ifs;
  for (std::size_t i = 0; i < config.interfaces.size(); ++i) {
    const auto& c = config.interfaces[i];
    auto what = "interface " + std::to_string(i) + ": ";
    checked_interface x;
    auto mac = parse_mac(c.mac);
    if (!mac)
      throw rpc::call_error(errc::invalid_argument, what + "malformed MAC \"" + c.mac + "\"");
    x.mac = *mac;
    x.address = parse_ipv4(c.address, what + "address");
    if (c.prefix_len < 1 || c.prefix_len > 32)
      throw rpc::call_error(
          errc::invalid_argument,
          what + "prefix length " + std::to_string(c.prefix_len) + " is not 1..32");
    if (c.mtu < 68 || c.mtu > 65535)
      throw rpc::call_error(errc::invalid_argument,
                            what + "MTU " + std::to_string(c.mtu) + " is not 68..65535");
    if (!c.gateway.empty()) x.gateway = parse_ipv4(c.gateway, what + "gateway");
    for (auto& other : ifs)
      if (other.mac == x.mac)
        throw rpc::call_error(errc::invalid_argument, what + "MAC " + c.mac + " given twice");
    ifs.push_back(x);
  }

  // Only interfaces need the virtio-net modules: with none (--network none) lo comes up alone.
  if (setup.load_modules && !ifs.empty()) load_module_set("net", setup.modules_dir);

  // Device probing is asynchronous: wait for every MAC to show up.
  auto deadline = std::chrono::steady_clock::now() + setup.wait;
  for (std::size_t i = 0; i < ifs.size(); ++i) {
    for (;;) {
      ifs[i].name = find_interface_by_mac(setup.sys_class_net, ifs[i].mac);
      if (!ifs[i].name.empty()) break;
      if (std::chrono::steady_clock::now() >= deadline)
        throw rpc::call_error(errc::not_found, "no network interface has the MAC " +
                                                   config.interfaces[i].mac + " (looked in " +
                                                   setup.sys_class_net + ")");
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ifs[i].ifindex = index_of(ifs[i].name);
  }

  rtnl nl;
  auto seq = nl.next_seq();
  nl.call(netlink::link_up_request(seq, index_of("lo"), 0), seq, "set lo up");
  for (std::size_t i = 0; i < ifs.size(); ++i) {
    const auto& c = config.interfaces[i];
    const auto& x = ifs[i];
    seq = nl.next_seq();
    nl.call(netlink::link_up_request(seq, x.ifindex, c.mtu), seq,
            "set " + x.name + " up with mtu " + std::to_string(c.mtu));
    seq = nl.next_seq();
    nl.call(netlink::address_request(seq, x.ifindex, x.address, c.prefix_len), seq,
            "add address " + c.address + "/" + std::to_string(c.prefix_len) + " to " + x.name);
  }
  for (std::size_t i = 0; i < ifs.size(); ++i) {
    if (!ifs[i].gateway) continue;
    seq = nl.next_seq();
    nl.call(netlink::default_route_request(seq, *ifs[i].gateway, ifs[i].ifindex), seq,
            "add the default route via " + config.interfaces[i].gateway + " dev " + ifs[i].name);
    break;
  }
  for (std::size_t i = 0; i < ifs.size(); ++i)
    log("network: %s (%s) %s/%u mtu %u%s%s", ifs[i].name.c_str(), config.interfaces[i].mac.c_str(),
        config.interfaces[i].address.c_str(),
        static_cast<unsigned>(config.interfaces[i].prefix_len), config.interfaces[i].mtu,
        config.interfaces[i].gateway.empty() ? "" : " gateway ",
        config.interfaces[i].gateway.c_str());
}

}  // namespace berth::agent
