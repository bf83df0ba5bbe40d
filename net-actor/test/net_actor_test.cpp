// Tests for the net supervisor and its network actors against the real thing: Linux bridges,
// taps, veth pairs, nftables, the DNS responders and port proxies, on a real (threaded) actor
// system with an in-memory store.
//
// The test process moves itself into a network namespace of its own before main() (and before
// any thread exists), so every bridge, tap, address and nft table it makes is private and goes
// away with the process, whatever happens. "Guests" are threads that unshare a namespace of their
// own (each like a VM's) joined to a bridge by a veth pair, with the MAC and address the network
// leased; they listen and resolve from inside their namespace. No packet leaves these namespaces.
#include "berth/net/net_supervisor.hpp"

#include "addr.hpp"
#include "dns_support.hpp"
#include "host_links.hpp"
#include "support.hpp"

#include "berth/actors/store.hpp"
#include "berth/os/file.hpp"
#include "berth/os/process.hpp"

#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sched.h>
#include <sys/syscall.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <set>
#include <variant>

using namespace berth;
using namespace berth::net;
using namespace berth::net::test;

namespace {

// --- the private namespace -----------------------------------------------------------------------

// Made during static initialisation: every thread of the process (the actor system's, the job
// threads, the `ip` and `nft` they start) is created later and inherits it.
struct private_namespace {
  std::string error;
  private_namespace() {
    if (::unshare(CLONE_NEWNET) != 0) {
      error = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno) +
              " (these tests need root)";
      return;
    }
    auto r = os::run({"/usr/sbin/ip", "link", "set", "lo", "up"}, std::chrono::seconds(10));
    if (r.exit_code != 0) error = "ip link set lo up: " + r.errors;
  }
};

const private_namespace the_namespace;

// Runs a tool in the calling thread's namespace; its stdout and stderr.
std::string sh(const std::vector<std::string>& argv, int* code = nullptr) {
  auto r = os::run(argv, std::chrono::seconds(20));
  if (code) *code = r.exit_code;
  return r.output + r.errors;
}

bool link_exists(const std::string& name) {
  int code = 0;
  sh({"ip", "link", "show", "dev", name}, &code);
  return code == 0;
}

// The ports of a bridge, as `ip -o link show master BRIDGE` lists them.
std::set<std::string> ports_of(const std::string& bridge) {
  auto out = sh({"ip", "-o", "link", "show", "master", bridge});
  std::set<std::string> names;
  std::size_t pos = 0;
  while ((pos = out.find(": ", pos)) != std::string::npos) {
    auto end = out.find(": ", pos + 2);
    if (end == std::string::npos) break;
    auto name = out.substr(pos + 2, end - pos - 2);
    names.insert(name.substr(0, name.find('@')));
    pos = out.find('\n', end);
    if (pos == std::string::npos) break;
  }
  return names;
}

std::string nft_tables() {
  return sh({"nft", "list", "tables"});
}

std::vector<std::string> berth_bridges() {
  auto links = host::list_links("bridge");
  std::vector<std::string> out;
  if (links)
    for (auto& l : *links)
      if (l.rfind("brth-", 0) == 0) out.push_back(l);
  return out;
}

// --- guests: a namespace behind a veth pair
// --------------------------------------------------------

class guest {
 public:
  struct spec {
    std::string name;       ///< Suffix of the veth names (at most 12 characters).
    std::string bridge;     ///< The host end joins it; "" for a plain point-to-point link.
    std::string host_cidr;  ///< The host end's address when there is no bridge.
    std::string mac;        ///< The guest end's MAC ("" leaves the kernel's).
    std::string cidr;       ///< The guest's address, "10.89.0.2/16".
    std::string gateway;    ///< Its default route ("" for none).
  };

  explicit guest(spec s) : spec_(std::move(s)) {
    std::promise<pid_t> tid;
    auto ready = tid.get_future();
    thread_ = std::thread([this, &tid] {
      if (::unshare(CLONE_NEWNET) != 0) {
        tid.set_value(-1);
        return;
      }
      tid.set_value(static_cast<pid_t>(::syscall(SYS_gettid)));
      loop();
    });
    auto t = ready.get();
    if (t < 0) {
      thread_.join();
      throw std::runtime_error("a guest could not unshare its namespace");
    }
    auto host_end = "vh" + spec_.name;
    auto guest_end = "vg" + spec_.name;
    std::string problems;
    auto step = [&](const std::vector<std::string>& argv) {
      int code = 0;
      auto out = sh(argv, &code);
      if (code != 0) problems += out;
    };
    step({"ip", "link", "add", host_end, "type", "veth", "peer", "name", guest_end});
    step({"ip", "link", "set", guest_end, "netns", std::to_string(t)});
    if (!spec_.bridge.empty())
      step({"ip", "link", "set", host_end, "master", spec_.bridge});
    else
      step({"ip", "addr", "add", spec_.host_cidr, "dev", host_end});
    step({"ip", "link", "set", host_end, "up"});
    problems += run([this, guest_end] {
      std::string out;
      auto gstep = [&](const std::vector<std::string>& argv) {
        int code = 0;
        auto o = sh(argv, &code);
        if (code != 0) out += o;
      };
      gstep({"ip", "link", "set", "lo", "up"});
      if (!spec_.mac.empty()) gstep({"ip", "link", "set", guest_end, "address", spec_.mac});
      gstep({"ip", "addr", "add", spec_.cidr, "dev", guest_end});
      gstep({"ip", "link", "set", guest_end, "up"});
      if (!spec_.gateway.empty()) gstep({"ip", "route", "add", "default", "via", spec_.gateway});
      return out;
    });
    if (!problems.empty()) {
      stop();
      throw std::runtime_error("guest " + spec_.name + ": " + problems);
    }
  }

  ~guest() { stop(); }

  guest(const guest&) = delete;
  guest& operator=(const guest&) = delete;

  /// Runs `f` on the guest's thread, in its namespace, and returns what it returned.
  template <class F>
  auto run(F f) -> decltype(f()) {
    using R = decltype(f());
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(f));
    auto result = task->get_future();
    {
      std::lock_guard<std::mutex> guard{m_};
      tasks_.push_back([task] { (*task)(); });
    }
    cv_.notify_one();
    return result.get();
  }

  /// A socket of the guest's namespace (usable from any thread).
  sock socket(int type) {
    return sock(run([type] { return ::socket(AF_INET, type | SOCK_CLOEXEC, 0); }));
  }

  /// A socket bound to the guest's address and `port`, listening when it is TCP.
  sock listener(int type, uint16_t port) {
    auto ip = spec_.cidr.substr(0, spec_.cidr.find('/'));
    return run([type, ip, port] { return bound(type, ip, port, true); });
  }

  /// A TCP connection from the guest to ip:port, or fd -1 if none within `ms`.
  sock connect(const std::string& ip, uint16_t port, int ms = 1500) {
    auto s = socket(SOCK_STREAM);
    int flags = ::fcntl(s.fd, F_GETFL);
    ::fcntl(s.fd, F_SETFL, flags | O_NONBLOCK);
    auto sa = address(ip, port);
    if (::connect(s.fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      if (errno != EINPROGRESS) return sock{};
      pollfd p{s.fd, POLLOUT, 0};
      if (::poll(&p, 1, ms) != 1) return sock{};
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) return sock{};
    }
    ::fcntl(s.fd, F_SETFL, flags);
    timeval tv{5, 0};
    ::setsockopt(s.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return s;
  }

  /// Output of a tool run inside the guest.
  std::string sh_in(std::vector<std::string> argv) {
    return run([argv] { return sh(argv); });
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock<std::mutex> lock{m_};
        cv_.wait(lock, [this] { return quit_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard<std::mutex> guard{m_};
      quit_ = true;
    }
    cv_.notify_one();
    thread_.join();
    // The guest's namespace ends with its thread (once its sockets are closed) and takes its
    // veth end along; the host end goes here at once.
    sh({"ip", "link", "del", "vh" + spec_.name});
  }

  spec spec_;
  std::thread thread_;
  std::mutex m_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;
  bool quit_ = false;
};

// A TCP echo server on a listening socket (of any namespace) that remembers its peers.
struct echo_server {
  sock listener;
  std::atomic<bool> stop{false};
  std::mutex m;
  std::vector<std::string> peers;
  std::thread thread;
  std::vector<std::thread> workers;

  explicit echo_server(sock l) : listener(std::move(l)) {
    REQUIRE(listener.fd >= 0);
    thread = std::thread([this] {
      while (!stop) {
        if (!readable(listener.fd, 50)) continue;
        sockaddr_in from{};
        socklen_t len = sizeof from;
        int c = ::accept4(listener.fd, reinterpret_cast<sockaddr*>(&from), &len, SOCK_CLOEXEC);
        if (c < 0) continue;
        {
          std::lock_guard<std::mutex> guard{m};
          peers.push_back(to_string(ipv4{ntohl(from.sin_addr.s_addr)}));
        }
        // A worker gives up when the server stops, even on a peer that never closes.
        workers.emplace_back([this, c] {
          char buf[16384];
          for (;;) {
            if (!readable(c, 50)) {
              if (stop) break;
              continue;
            }
            auto n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            if (!send_all(c, std::string(buf, static_cast<std::size_t>(n)))) break;
          }
          ::close(c);
        });
      }
    });
  }
  ~echo_server() {
    stop = true;
    thread.join();
    for (auto& w : workers) w.join();
  }
  std::vector<std::string> seen() {
    std::lock_guard<std::mutex> guard{m};
    return peers;
  }
};

// A UDP echo on a bound socket (of any namespace).
struct udp_echo_server {
  sock s;
  std::atomic<bool> stop{false};
  std::thread thread;
  explicit udp_echo_server(sock b) : s(std::move(b)) {
    REQUIRE(s.fd >= 0);
    thread = std::thread([this] {
      char buf[4096];
      while (!stop) {
        if (!readable(s.fd, 50)) continue;
        sockaddr_in from{};
        socklen_t len = sizeof from;
        auto n = ::recvfrom(s.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len);
        if (n < 0) continue;
        std::string reply = "udp:" + std::string(buf, static_cast<std::size_t>(n));
        ::sendto(s.fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
      }
    });
  }
  ~udp_echo_server() {
    stop = true;
    thread.join();
  }
};

// A TCP round trip on a connected socket.
std::string echo_once(int fd, const std::string& msg) {
  if (fd < 0 || !send_all(fd, msg)) return {};
  return recv_n(fd, msg.size());
}

// Resolves `name` at server:53 over the UDP socket `fd`: the addresses, or "rcode N".
std::vector<std::string> resolve(int fd, const std::string& server, const std::string& name,
                                 uint16_t port = 53) {
  static uint16_t id = 100;
  auto a = ask_udp_on(fd, server, port, make_query(++id, name), 5000);
  if (!a) return {"no answer"};
  auto r = read_response(*a);
  if (r.id != id) return {"wrong id"};
  if (r.rcode() != 0) return {"rcode " + std::to_string(r.rcode())};
  return r.addresses;
}

// --- the store
// -------------------------------------------------------------------------------------

struct store_data {
  std::mutex m;
  std::map<std::string, network_record> networks;
  std::atomic<bool> fail_saves{false};

  std::optional<network_record> by_name(const std::string& name) {
    std::lock_guard<std::mutex> guard{m};
    for (auto& [id, r] : networks)
      if (r.name == name) return r;
    return std::nullopt;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> guard{m};
    return networks.size();
  }
};

store_actor::behavior_type fake_store(store_actor::pointer, std::shared_ptr<store_data> d) {
  return {
      [](save_atom, const container_record&) {},
      [](erase_atom, container_atom, const std::string&) {},
      [](list_atom, container_atom) { return std::vector<container_record>{}; },
      [](save_atom, const image_record&) {},
      [](erase_atom, image_atom, const std::string&) {},
      [](list_atom, image_atom) { return std::vector<image_record>{}; },
      [](save_atom, const volume_record&) {},
      [](erase_atom, volume_atom, const std::string&) {},
      [](list_atom, volume_atom) { return std::vector<volume_record>{}; },
      [d](save_atom, const network_record& r) -> caf::result<void> {
        if (d->fail_saves) return make_error(errc::io, "the disk is full");
        std::lock_guard<std::mutex> guard{d->m};
        d->networks[r.id] = r;
        return caf::unit;
      },
      [d](erase_atom, network_atom, const std::string& id) {
        std::lock_guard<std::mutex> guard{d->m};
        d->networks.erase(id);
      },
      [d](list_atom, network_atom) {
        std::lock_guard<std::mutex> guard{d->m};
        std::vector<network_record> out;
        for (auto& [id, r] : d->networks) out.push_back(r);
        return out;
      },
  };
}

// --- the fixture
// -----------------------------------------------------------------------------------

struct config : caf::actor_system_config {
  config() { add_message_types<caf::id_block::berth>(); }
};

constexpr auto patience = std::chrono::seconds(30);

struct fixture {
  config cfg;
  caf::actor_system sys{cfg};
  std::shared_ptr<store_data> data = std::make_shared<store_data>();
  caf::actor store;
  caf::actor parent;
  net_supervisor_actor nets;
  fake_upstream upstream{"192.0.2.7"};
  net_options opts;

  fixture() {
    REQUIRE(the_namespace.error.empty());
    store = caf::actor_cast<caf::actor>(sys.spawn(fake_store, data));
    sys.registry().put(registry_key(store_name), store);
    opts.upstream_dns = {"127.0.0.1:" + std::to_string(port_of(upstream.s.fd))};
  }

  ~fixture() {
    if (nets) stop();
    // The parent ignores exit messages (as a supervisor would handle them): only kill ends it.
    if (parent) caf::anon_send_exit(parent, caf::exit_reason::kill);
    sys.registry().erase(registry_key(store_name));
    caf::anon_send_exit(store, caf::exit_reason::user_shutdown);
    parent = nullptr;
    store = nullptr;
    // Whatever a failed test left: the next test in this process starts clean.
    for (auto& b : berth_bridges()) {
      for (auto& p : ports_of(b)) sh({"ip", "link", "del", p});
      sh({"ip", "link", "del", b});
    }
    sh({"nft", "delete", "table", "inet", "berth"});
  }

  // Starts a net supervisor the way berthd's root does (linked to a parent), and waits until it
  // serves (its first answer comes after the stored networks and the default one are up).
  void start() {
    auto out = std::make_shared<std::promise<net_supervisor_actor>>();
    auto ready = out->get_future();
    parent = sys.spawn([out, o = opts](caf::event_based_actor* self) -> caf::behavior {
      out->set_value(spawn_net_supervisor(self, o));
      self->set_exit_handler([](caf::exit_msg&) {});
      return {[](info_atom) {}};
    });
    nets = ready.get();
    REQUIRE(list().size() >= 1);
  }

  // Stops the supervisor cleanly (or with `reason`) and waits until it is gone.
  void stop(caf::error reason = caf::exit_reason::user_shutdown) {
    caf::scoped_actor self{sys};
    self->monitor(nets);
    self->send_exit(nets, reason);
    bool down = false;
    self->receive([&](caf::down_msg&) { down = true; }, caf::after(patience) >> [] {});
    CHECK(down);
    nets = nullptr;
    caf::anon_send_exit(parent, caf::exit_reason::kill);
    parent = nullptr;
  }

  template <class T, class... Ts>
  std::variant<T, caf::error> ask(Ts... xs) {
    caf::scoped_actor self{sys};
    std::variant<T, caf::error> out = make_error(errc::internal, "no answer");
    self->request(nets, patience, xs...)
        .receive([&](T& value) { out = std::move(value); }, [&](caf::error& err) { out = err; });
    return out;
  }

  template <class... Ts>
  caf::error ask_void(Ts... xs) {
    caf::scoped_actor self{sys};
    caf::error out;
    self->request(nets, patience, xs...).receive([] {}, [&](caf::error& err) { out = err; });
    return out;
  }

  std::vector<api::network_info> list() {
    auto r = ask<std::vector<api::network_info>>(list_atom_v);
    REQUIRE(std::holds_alternative<std::vector<api::network_info>>(r));
    return std::get<std::vector<api::network_info>>(r);
  }

  api::network_info create(std::string name, std::string subnet = "", bool internal = false,
                           std::string gateway = "") {
    api::network_create_request req;
    req.name = std::move(name);
    req.subnet = std::move(subnet);
    req.internal = internal;
    req.gateway = std::move(gateway);
    auto r = ask<api::network_info>(create_atom_v, req);
    if (auto* err = std::get_if<caf::error>(&r))
      FAIL("create " << req.name << ": " << describe(*err));
    return std::get<api::network_info>(r);
  }

  caf::error create_error(std::string name, std::string subnet = "", std::string gateway = "") {
    api::network_create_request req;
    req.name = std::move(name);
    req.subnet = std::move(subnet);
    req.gateway = std::move(gateway);
    auto r = ask<api::network_info>(create_atom_v, req);
    REQUIRE(std::holds_alternative<caf::error>(r));
    return std::get<caf::error>(r);
  }

  api::network_info inspect(const std::string& ref) {
    auto r = ask<api::network_info>(inspect_atom_v, ref);
    if (auto* err = std::get_if<caf::error>(&r)) FAIL("inspect " << ref << ": " << describe(*err));
    return std::get<api::network_info>(r);
  }

  std::variant<api::endpoint, caf::error> try_attach(const std::string& id, const std::string& name,
                                                     const std::string& network,
                                                     const std::string& ip = "",
                                                     std::vector<std::string> aliases = {}) {
    return ask<api::endpoint>(lease_atom_v, id, name, network, ip, aliases);
  }

  api::endpoint attach(const std::string& id, const std::string& name, const std::string& network,
                       const std::string& ip = "", std::vector<std::string> aliases = {}) {
    auto r = try_attach(id, name, network, ip, std::move(aliases));
    if (auto* err = std::get_if<caf::error>(&r)) FAIL("attach " << name << ": " << describe(*err));
    return std::get<api::endpoint>(r);
  }

  struct plugged {
    caf::error error;
    std::vector<std::string> taps;
    std::vector<api::port_mapping> ports;
  };

  plugged plug(const std::string& id, std::vector<api::endpoint> eps,
               std::vector<api::port_mapping> ports = {}) {
    caf::scoped_actor self{sys};
    plugged out;
    out.error = make_error(errc::internal, "no answer");
    self->request(nets, patience, plug_atom_v, id, eps, ports)
        .receive(
            [&](std::vector<std::string>& taps, std::vector<api::port_mapping>& open) {
              out.error = caf::error{};
              out.taps = std::move(taps);
              out.ports = std::move(open);
            },
            [&](caf::error& err) { out.error = err; });
    return out;
  }
};

// A container id: 64 hex digits starting with `prefix`.
std::string cid(const std::string& prefix) {
  auto id = prefix + std::string(64 - prefix.size(), '0');
  return id;
}

api::port_mapping port(uint16_t container_port, const std::string& protocol = "tcp",
                       uint16_t host_port = 0, const std::string& host_ip = "127.0.0.1") {
  api::port_mapping m;
  m.host_ip = host_ip;
  m.host_port = host_port;
  m.container_port = container_port;
  m.protocol = protocol;
  return m;
}

std::string cidr(const api::endpoint& ep) {
  return ep.ip + "/" + std::to_string(ep.prefix_len);
}

}  // namespace

TEST_CASE("host links: a bridge is made or adopted, a tap joins it, and both can go again") {
  REQUIRE(the_namespace.error.empty());
  auto gw = *parse_ipv4("10.95.0.1");
  const std::string mac = "02:aa:bb:cc:dd:01";
  REQUIRE_FALSE(host::ensure_bridge("brth-test0001", mac, gw, 24));
  CHECK(link_exists("brth-test0001"));
  CHECK_THAT(sh({"ip", "-o", "-4", "addr", "show", "dev", "brth-test0001"}),
             Catch::Contains("inet 10.95.0.1/24"));
  CHECK_THAT(sh({"ip", "-o", "link", "show", "dev", "brth-test0001"}),
             Catch::Contains("link/ether " + mac));
  // A second time adopts it (a berthd that died left it).
  CHECK_FALSE(host::ensure_bridge("brth-test0001", mac, gw, 24));
  auto bridges = host::list_links("bridge");
  REQUIRE(bridges);
  CHECK(std::count(bridges->begin(), bridges->end(), "brth-test0001") == 1);

  // A tap with a lower MAC than the bridge's joins; the bridge keeps its own MAC.
  sh({"ip", "tuntap", "add", "dev", "tbtest00000", "mode", "tap"});
  sh({"ip", "link", "set", "dev", "tbtest00000", "address", "02:00:00:00:00:01"});
  const host::tap_pin pin{"berthtest", "02:00:00:00:00:01", "10.95.0.2"};
  REQUIRE_FALSE(host::ensure_tap("tbtest00000", "brth-test0001", pin));
  CHECK_FALSE(host::ensure_tap("tbtest00000", "brth-test0001", pin));
  // Pinned: a chain on the tap's ingress lets through only its MAC and address.
  auto pins = sh({"nft", "list", "table", "netdev", "berthtest"});
  CHECK_THAT(pins, Catch::Contains("hook ingress device \"tbtest00000\""));
  CHECK_THAT(pins, Catch::Contains("ether saddr 02:00:00:00:00:01 ip saddr 10.95.0.2 accept"));
  // A pin that would not parse never reaches nft.
  CHECK(code_of(host::ensure_tap("tbtest00000", "brth-test0001",
                                 {"berthtest", "02:00:00:00:00:01 accept", "10.95.0.2"})) ==
        errc::invalid_argument);
  CHECK(ports_of("brth-test0001") == std::set<std::string>{"tbtest00000"});
  auto listed = host::list_links("", "brth-test0001");
  REQUIRE(listed);
  CHECK(*listed == std::vector<std::string>{"tbtest00000"});
  CHECK_THAT(sh({"ip", "-d", "-o", "link", "show", "dev", "tbtest00000"}),
             Catch::Contains("tun type tap"));
  CHECK_THAT(sh({"ip", "-o", "link", "show", "dev", "brth-test0001"}),
             Catch::Contains("link/ether " + mac));
  // The control: a bridge without a MAC of its own takes its port's (and would change it again
  // when the port goes, under the feet of every container's ARP cache).
  sh({"ip", "link", "add", "brth-ctl00001", "type", "bridge"});
  sh({"ip", "tuntap", "add", "dev", "tbctl00000", "mode", "tap"});
  sh({"ip", "link", "set", "dev", "tbctl00000", "address", "02:00:00:00:00:02"});
  sh({"ip", "link", "set", "dev", "tbctl00000", "master", "brth-ctl00001"});
  CHECK_THAT(sh({"ip", "-o", "link", "show", "dev", "brth-ctl00001"}),
             Catch::Contains("link/ether 02:00:00:00:00:02"));
  CHECK_FALSE(host::delete_link("tbctl00000"));
  CHECK_FALSE(host::delete_link("brth-ctl00001"));

  // A name taken by another kind of link is a conflict, not adopted.
  sh({"ip", "link", "add", "brth-veth0001", "type", "veth", "peer", "name", "brth-veth0002"});
  auto err = host::ensure_bridge("brth-veth0001", mac, gw, 24);
  CHECK(code_of(err) == errc::conflict);
  CHECK(code_of(host::ensure_tap("brth-veth0001", "brth-test0001", pin)) == errc::conflict);
  CHECK_FALSE(host::delete_link("brth-veth0001"));

  CHECK_FALSE(host::delete_tap("berthtest", "tbtest00000"));
  CHECK_FALSE(host::delete_tap("berthtest", "tbtest00000"));  // gone already: fine
  CHECK_THAT(sh({"nft", "list", "table", "netdev", "berthtest"}), !Catch::Contains("tbtest00000"));
  CHECK_FALSE(host::delete_nft_table("berthtest"));
  CHECK(ports_of("brth-test0001").empty());
  CHECK_THAT(sh({"ip", "-o", "link", "show", "dev", "brth-test0001"}),
             Catch::Contains("link/ether " + mac));
  CHECK_FALSE(host::delete_link("brth-test0001"));
  CHECK_FALSE(link_exists("brth-test0001"));
}

TEST_CASE_METHOD(fixture,
                 "the default network exists from the first start and goes at a clean stop") {
  start();
  auto nets = list();
  REQUIRE(nets.size() == 1);
  auto& d = nets[0];
  CHECK(d.name == "default");
  CHECK(d.driver == "bridge");
  CHECK(d.subnet == "10.89.0.0/16");
  CHECK(d.gateway == "10.89.0.1");
  CHECK(d.id.size() == 64);
  CHECK(d.bridge == "brth-" + d.id.substr(0, 8));
  CHECK(d.leases.empty());
  CHECK_THAT(sh({"ip", "-o", "-4", "addr", "show", "dev", d.bridge}),
             Catch::Contains("inet 10.89.0.1/16"));
  CHECK_THAT(sh({"ip", "-o", "link", "show", "dev", d.bridge}), Catch::Contains(",UP"));
  CHECK_THAT(sh({"ip", "-o", "link", "show", "dev", d.bridge}),
             Catch::Contains("link/ether " + bridge_mac(d.id)));
  // Kept in the store.
  auto rec = data->by_name("default");
  REQUIRE(rec);
  CHECK(rec->bridge == d.bridge);
  // The firewall: NAT for the subnet, forwarding on.
  auto table = sh({"nft", "list", "table", "inet", "berth"});
  CHECK_THAT(table,
             Catch::Contains("ip saddr 10.89.0.0/16 oifname != \"" + d.bridge + "\" masquerade"));
  CHECK(os::read_file("/proc/sys/net/ipv4/ip_forward") == "1\n");
  // The DNS responder answers on the gateway (no container yet: other names go upstream).
  sock s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  CHECK(resolve(s.fd, "10.89.0.1", "example.com") == std::vector<std::string>{"192.0.2.7"});
  CHECK(upstream.queries == 1);

  stop();
  CHECK(berth_bridges().empty());
  CHECK_FALSE(link_exists(d.bridge));
  CHECK_THAT(nft_tables(), !Catch::Contains("berth"));
  // The record stays: the network is back at the next start.
  CHECK(data->by_name("default"));
}

TEST_CASE_METHOD(
    fixture, "networks are created with a subnet or from the pool, and bad requests are refused") {
  start();
  auto front = create("front", "10.90.5.0/24");
  CHECK(front.subnet == "10.90.5.0/24");
  CHECK(front.gateway == "10.90.5.1");
  CHECK(link_exists(front.bridge));
  auto back = create("back");
  CHECK(back.subnet == "10.90.0.0/24");
  auto side = create("side", "", false, "");
  CHECK(side.subnet == "10.90.1.0/24");
  auto gw = create("gw", "10.92.0.0/24", false, "10.92.0.254");
  CHECK(gw.gateway == "10.92.0.254");
  CHECK_THAT(sh({"ip", "-o", "-4", "addr", "show", "dev", gw.bridge}),
             Catch::Contains("inet 10.92.0.254/24"));
  CHECK(data->size() == 5);

  auto overlap = create_error("clash", "10.89.3.0/24");
  CHECK(code_of(overlap) == errc::conflict);
  CHECK_THAT(describe(overlap), Catch::Contains("overlaps network default (10.89.0.0/16)"));
  CHECK(code_of(create_error("wide", "10.0.0.0/8")) == errc::conflict);
  auto taken = create_error("front", "10.93.0.0/24");
  CHECK(code_of(taken) == errc::already_exists);
  CHECK_THAT(describe(taken), Catch::Contains("front"));
  auto hostbits = create_error("hb", "10.93.0.1/24");
  CHECK(code_of(hostbits) == errc::invalid_argument);
  CHECK_THAT(describe(hostbits), Catch::Contains("10.93.0.0/24"));
  for (auto bad : {"10.93.300.0/24", "10.93.0.0/31", "10.93.0.0", "10.93.0.0/4", "banana"}) {
    INFO(bad);
    CHECK(code_of(create_error("bad", bad)) == errc::invalid_argument);
  }
  CHECK(code_of(create_error("gwout", "10.94.0.0/24", "10.94.1.1")) == errc::invalid_argument);
  CHECK(code_of(create_error("gwbcast", "10.94.0.0/24", "10.94.0.255")) == errc::invalid_argument);
  CHECK(code_of(create_error("bad name")) == errc::invalid_argument);
  CHECK(code_of(create_error("none")) == errc::invalid_argument);
  CHECK(code_of(create_error("-x")) == errc::invalid_argument);
  // Nothing of the refused ones exists.
  CHECK(data->size() == 5);
  CHECK(berth_bridges().size() == 5);

  // Listed by name; found by name, id or id prefix.
  std::vector<std::string> names;
  for (auto& n : list()) names.push_back(n.name);
  CHECK(names == std::vector<std::string>{"back", "default", "front", "gw", "side"});
  CHECK(inspect("front").id == front.id);
  CHECK(inspect(front.id).name == "front");
  CHECK(inspect(front.id.substr(0, 10)).name == "front");
  auto missing = ask<api::network_info>(inspect_atom_v, std::string("nowhere"));
  REQUIRE(std::holds_alternative<caf::error>(missing));
  CHECK(code_of(std::get<caf::error>(missing)) == errc::not_found);

  // The firewall has every network.
  auto table = sh({"nft", "list", "table", "inet", "berth"});
  for (auto& n : list()) CHECK_THAT(table, Catch::Contains(n.bridge));
}

TEST_CASE_METHOD(fixture,
                 "attach leases distinct addresses with stable MACs, and checks requested ones") {
  start();
  auto net_id = inspect("default").id;
  auto a = attach(cid("a1"), "alpha", "default");
  auto b = attach(cid("b2"), "beta", "");  // "" is the default network
  CHECK(a.network == "default");
  CHECK(a.ip == "10.89.0.2");
  CHECK(b.ip == "10.89.0.3");
  CHECK(a.prefix_len == 16);
  CHECK(a.gateway == "10.89.0.1");
  CHECK(a.mac == mac_for(cid("a1"), net_id));
  CHECK(a.mac != b.mac);
  // Attaching again answers the same lease.
  auto again = attach(cid("a1"), "alpha", "default", "", {"al"});
  CHECK(again.ip == a.ip);
  CHECK(again.mac == a.mac);
  CHECK(again.aliases == std::vector<std::string>{"al"});

  auto fixed = attach(cid("c3"), "gamma", "default", "10.89.7.7");
  CHECK(fixed.ip == "10.89.7.7");
  auto taken = try_attach(cid("d4"), "delta", "default", "10.89.7.7");
  REQUIRE(std::holds_alternative<caf::error>(taken));
  CHECK(code_of(std::get<caf::error>(taken)) == errc::conflict);
  CHECK_THAT(describe(std::get<caf::error>(taken)), Catch::Contains("gamma"));
  for (auto [ip, code] :
       {std::pair{"10.90.0.5", errc::invalid_argument},
        std::pair{"10.89.255.255", errc::invalid_argument},
        std::pair{"10.89.0.0", errc::invalid_argument}, std::pair{"10.89.0.1", errc::conflict},
        std::pair{"banana", errc::invalid_argument}}) {
    INFO(ip);
    auto r = try_attach(cid("d4"), "delta", "default", ip);
    REQUIRE(std::holds_alternative<caf::error>(r));
    CHECK(code_of(std::get<caf::error>(r)) == code);
  }
  // Another address for a container that has one is a conflict.
  auto moved = try_attach(cid("a1"), "alpha", "default", "10.89.9.9");
  REQUIRE(std::holds_alternative<caf::error>(moved));
  CHECK(code_of(std::get<caf::error>(moved)) == errc::conflict);
  auto nowhere = try_attach(cid("d4"), "delta", "nowhere");
  REQUIRE(std::holds_alternative<caf::error>(nowhere));
  CHECK(code_of(std::get<caf::error>(nowhere)) == errc::not_found);

  // The next free address skips the fixed one's neighbours correctly.
  CHECK(attach(cid("d4"), "delta", "default").ip == "10.89.0.4");

  // Leases are in the store and in inspect.
  auto rec = data->by_name("default");
  REQUIRE(rec);
  CHECK(rec->leases.size() == 4);
  auto info = inspect("default");
  REQUIRE(info.leases.size() == 4);
  CHECK(info.leases[0].container == cid("a1"));
  CHECK(info.leases[0].name == "alpha");
  CHECK(info.leases[0].mac == a.mac);

  // The same container on another network gets another MAC; an internal network gives no gateway.
  auto sealed = create("sealed", "10.91.9.0/24", true);
  auto s = attach(cid("a1"), "alpha", "sealed");
  CHECK(s.ip == "10.91.9.2");
  CHECK(s.gateway.empty());
  CHECK(s.mac == mac_for(cid("a1"), sealed.id));
  CHECK(s.mac != a.mac);

  // A store that refuses the write: an error, and the address is not kept.
  data->fail_saves = true;
  auto refused = try_attach(cid("e5"), "eps", "default");
  REQUIRE(std::holds_alternative<caf::error>(refused));
  CHECK(code_of(std::get<caf::error>(refused)) == errc::io);
  data->fail_saves = false;
  CHECK(inspect("default").leases.size() == 4);
  CHECK(attach(cid("e5"), "eps", "default").ip == "10.89.0.5");
}

TEST_CASE_METHOD(
    fixture,
    "a plugged container gets a tap, its names in DNS and its ports, and unplug takes them") {
  start();
  auto app = create("app", "10.91.0.0/24");
  auto id = cid("f00d");
  auto ep = attach(id, "web", "app", "", {"www", "Front"});
  REQUIRE(ep.ip == "10.91.0.2");

  auto p = plug(id, {ep}, {port(8080), port(5353, "udp")});
  REQUIRE_FALSE(p.error);
  auto tap = tap_name(id, 0);
  CHECK(p.taps == std::vector<std::string>{tap});
  CHECK(ports_of(app.bridge).count(tap) == 1);
  REQUIRE(p.ports.size() == 2);
  CHECK(p.ports[0].host_port != 0);
  CHECK(p.ports[0].container_port == 8080);
  CHECK(p.ports[0].protocol == "tcp");
  CHECK(p.ports[1].protocol == "udp");
  CHECK(p.ports[1].host_port != 0);

  // The "VM": a namespace behind the bridge with the leased MAC and address.
  guest vm({"web", app.bridge, "", ep.mac, cidr(ep), ep.gateway});
  CHECK_THAT(vm.sh_in({"ip", "-o", "link", "show"}), Catch::Contains(ep.mac));
  echo_server tcp(vm.listener(SOCK_STREAM, 8080));
  udp_echo_server udp(vm.listener(SOCK_DGRAM, 5353));

  // Published ports: from the host's loopback to the container, through the bridge.
  auto c = connect_tcp("127.0.0.1", p.ports[0].host_port);
  REQUIRE(c.fd >= 0);
  CHECK(echo_once(c.fd, "through the proxy") == "through the proxy");
  CHECK(tcp.seen() == std::vector<std::string>{"10.91.0.1"});
  auto u = bound(SOCK_DGRAM, "127.0.0.1", 0);
  auto sa = address("127.0.0.1", p.ports[1].host_port);
  ::sendto(u.fd, "ping", 4, 0, reinterpret_cast<sockaddr*>(&sa), sizeof sa);
  REQUIRE(readable(u.fd, 3000));
  char buf[64];
  auto n = ::recv(u.fd, buf, sizeof buf, 0);
  CHECK(std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) == "udp:ping");

  // Names, from inside the VM: name, aliases (any case), short id; others go upstream.
  auto q = vm.socket(SOCK_DGRAM);
  for (std::string name : {std::string("web"), std::string("www"), std::string("front"),
                           std::string("WEB."), id.substr(0, 12)}) {
    INFO(name);
    CHECK(resolve(q.fd, "10.91.0.1", name) == std::vector<std::string>{"10.91.0.2"});
  }
  CHECK(resolve(q.fd, "10.91.0.1", "example.com") == std::vector<std::string>{"192.0.2.7"});
  // The host's other services stay shut to the container, on its gateway's address too (the
  // input chain lets through only DNS there); the host itself reaches them.
  auto host_listener = bound(SOCK_STREAM, "10.91.0.1", 0, true);
  echo_server host_echo(std::move(host_listener));
  CHECK(vm.connect("10.91.0.1", port_of(host_echo.listener.fd)).fd < 0);
  CHECK(host_echo.seen().empty());
  auto from_host = connect_tcp("10.91.0.1", port_of(host_echo.listener.fd));
  CHECK(echo_once(from_host.fd, "hi host") == "hi host");

  // Plugging again (a restarted VM) keeps the ports as they are.
  auto again = plug(id, {ep}, {port(8080), port(5353, "udp")});
  REQUIRE_FALSE(again.error);
  CHECK(again.ports[0].host_port == p.ports[0].host_port);
  CHECK(again.ports[1].host_port == p.ports[1].host_port);
  CHECK(echo_once(c.fd, "same connection") == "same connection");

  // Unplugged: tap, names and ports are gone; the lease stays.
  REQUIRE_FALSE(ask_void(unplug_atom_v, id));
  CHECK_FALSE(link_exists(tap));
  CHECK(resolve(q.fd, "10.91.0.1", "web") == std::vector<std::string>{"192.0.2.7"});
  CHECK(connect_tcp("127.0.0.1", p.ports[0].host_port).fd < 0);
  CHECK(bound(SOCK_DGRAM, "127.0.0.1", p.ports[1].host_port).fd >= 0);
  CHECK(inspect("app").leases.size() == 1);
  // Unplugging twice is fine.
  CHECK_FALSE(ask_void(unplug_atom_v, id));
}

TEST_CASE_METHOD(fixture,
                 "a container on two networks gets a tap on each, and ports on the first") {
  start();
  auto app = create("app", "10.91.0.0/24");
  auto def = inspect("default");
  auto id = cid("beef");
  auto e0 = attach(id, "multi", "app");
  auto e1 = attach(id, "multi", "default");
  auto p = plug(id, {e0, e1}, {port(80)});
  REQUIRE_FALSE(p.error);
  CHECK(p.taps == std::vector<std::string>{tap_name(id, 0), tap_name(id, 1)});
  CHECK(ports_of(app.bridge) == std::set<std::string>{tap_name(id, 0)});
  CHECK(ports_of(def.bridge) == std::set<std::string>{tap_name(id, 1)});
  REQUIRE(p.ports.size() == 1);
  // Its name resolves on both networks, each to its own address there.
  sock s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  CHECK(resolve(s.fd, "10.91.0.1", "multi") == std::vector<std::string>{e0.ip});
  CHECK(resolve(s.fd, "10.89.0.1", "multi") == std::vector<std::string>{e1.ip});

  // A plug that names a network twice, or one it is not attached to, is refused.
  CHECK(code_of(plug(id, {e0, e0}).error) == errc::invalid_argument);
  auto other = cid("cafe");
  auto stranger = plug(other, {e0});
  CHECK(code_of(stranger.error) == errc::conflict);
  CHECK(ports_of(app.bridge).count(tap_name(other, 0)) == 0);
  CHECK(code_of(plug(id, {}, {port(80)}).error) == errc::invalid_argument);
  auto none = plug(id, {}, {});
  CHECK_FALSE(none.error);
  CHECK(none.taps.empty());
}

TEST_CASE_METHOD(fixture, "a taken host port is a conflict and nothing of that plug stays") {
  start();
  auto id = cid("abba");
  auto ep = attach(id, "clash", "default");
  auto taken = bound(SOCK_STREAM, "127.0.0.1", 0);
  REQUIRE(taken.fd >= 0);
  auto p = plug(id, {ep}, {port(80, "tcp", 0), port(81, "tcp", port_of(taken.fd))});
  CHECK(code_of(p.error) == errc::conflict);
  CHECK_THAT(describe(p.error),
             Catch::Contains("127.0.0.1:" + std::to_string(port_of(taken.fd)) + "/tcp"));
  CHECK_THAT(describe(p.error), Catch::Contains("already in use"));
  CHECK_FALSE(link_exists(tap_name(id, 0)));
  sock s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  CHECK(resolve(s.fd, "10.89.0.1", "clash") == std::vector<std::string>{"192.0.2.7"});
  // Bad port requests are refused before anything is made.
  CHECK(code_of(plug(id, {ep}, {port(80, "sctp")}).error) == errc::invalid_argument);
  CHECK(code_of(plug(id, {ep}, {port(0)}).error) == errc::invalid_argument);
  CHECK(code_of(plug(id, {ep}, {port(80, "tcp", 0, "localhost")}).error) == errc::invalid_argument);
  CHECK(code_of(plug(id, {ep}, {port(80, "tcp", 0, "192.0.2.200")}).error) ==
        errc::invalid_argument);
  CHECK_FALSE(link_exists(tap_name(id, 0)));
  // Once the port is free the same plug works.
  auto port_number = port_of(taken.fd);
  taken = sock{};
  auto ok = plug(id, {ep}, {port(81, "tcp", port_number)});
  REQUIRE_FALSE(ok.error);
  CHECK(ok.ports[0].host_port == port_number);
}

TEST_CASE_METHOD(
    fixture, "detach frees the lease, and remove refuses a network in use and deletes its bridge") {
  start();
  auto tmp = create("tmp", "10.91.4.0/24");
  auto a = attach(cid("1a"), "one", "tmp");
  auto b = attach(cid("2b"), "two", "tmp");
  REQUIRE_FALSE(plug(cid("1a"), {a}).error);
  CHECK(ports_of(tmp.bridge).size() == 1);

  auto busy = ask_void(remove_atom_v, std::string("tmp"));
  CHECK(code_of(busy) == errc::conflict);
  CHECK_THAT(describe(busy), Catch::Contains("one"));
  CHECK_THAT(describe(busy), Catch::Contains("two"));
  CHECK(code_of(ask_void(remove_atom_v, std::string("default"))) == errc::conflict);
  CHECK(code_of(ask_void(remove_atom_v, std::string("nowhere"))) == errc::not_found);

  // Detaching a plugged container unplugs it too; its address is the next one handed out.
  REQUIRE_FALSE(ask_void(release_atom_v, cid("1a"), std::string("tmp")));
  CHECK(ports_of(tmp.bridge).empty());
  CHECK(inspect("tmp").leases.size() == 1);
  CHECK(data->by_name("tmp")->leases.size() == 1);
  CHECK(attach(cid("3c"), "three", "tmp").ip == a.ip);
  // Detaching from every network at once; detaching what is not attached is fine.
  REQUIRE_FALSE(ask_void(release_atom_v, cid("2b"), std::string()));
  REQUIRE_FALSE(ask_void(release_atom_v, cid("3c"), std::string()));
  REQUIRE_FALSE(ask_void(release_atom_v, cid("3c"), std::string("tmp")));
  CHECK(inspect("tmp").leases.empty());
  (void)b;

  REQUIRE_FALSE(ask_void(remove_atom_v, tmp.id.substr(0, 12)));
  CHECK_FALSE(link_exists(tmp.bridge));
  CHECK_FALSE(data->by_name("tmp"));
  auto gone = ask<api::network_info>(inspect_atom_v, std::string("tmp"));
  REQUIRE(std::holds_alternative<caf::error>(gone));
  CHECK(code_of(std::get<caf::error>(gone)) == errc::not_found);
  CHECK_THAT(sh({"nft", "list", "table", "inet", "berth"}), !Catch::Contains(tmp.bridge));
  // Its name and subnet can be used again.
  auto again = create("tmp", "10.91.4.0/24");
  CHECK(again.id != tmp.id);

  // Prune takes every network without leases but the default one.
  auto used = create("used", "10.91.5.0/24");
  attach(cid("4d"), "four", "used");
  create("idle", "10.91.6.0/24");
  auto pruned = ask<api::removed>(prune_atom_v);
  REQUIRE(std::holds_alternative<api::removed>(pruned));
  CHECK(std::get<api::removed>(pruned).deleted == std::vector<std::string>{"idle", "tmp"});
  std::vector<std::string> names;
  for (auto& n : list()) names.push_back(n.name);
  CHECK(names == std::vector<std::string>{"default", "used"});
  CHECK(berth_bridges().size() == 2);
  (void)used;
}

TEST_CASE_METHOD(fixture,
                 "leases survive a restart of the net supervisor: no address is handed out twice") {
  start();
  auto keep = create("keep", "10.91.7.0/24");
  auto a = attach(cid("aa"), "a", "keep");
  auto b = attach(cid("bb"), "b", "keep");
  auto d = attach(cid("aa"), "a", "default");
  stop();
  CHECK(berth_bridges().empty());

  start();
  auto info = inspect("keep");
  CHECK(info.id == keep.id);
  CHECK(info.bridge == keep.bridge);
  CHECK(info.leases.size() == 2);
  CHECK(link_exists(keep.bridge));
  CHECK(list().size() == 2);  // no second default network
  auto c = attach(cid("cc"), "c", "keep");
  CHECK(c.ip != a.ip);
  CHECK(c.ip != b.ip);
  CHECK(c.ip == "10.91.7.4");
  auto a2 = attach(cid("aa"), "a", "keep");
  CHECK(a2.ip == a.ip);
  CHECK(a2.mac == a.mac);
  CHECK(attach(cid("aa"), "a", "default").ip == d.ip);
  CHECK(attach(cid("dd"), "d", "default").ip != d.ip);
  // The restarted networks work: plug and resolve.
  REQUIRE_FALSE(plug(cid("cc"), {c}).error);
  sock s(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  CHECK(resolve(s.fd, "10.91.7.1", "c") == std::vector<std::string>{c.ip});
}

TEST_CASE_METHOD(
    fixture, "a crashed net supervisor leaves bridges and taps, and its successor adopts them") {
  start();
  auto keep = create("keep", "10.91.8.0/24");
  auto ep = attach(cid("77"), "survivor", "keep");
  REQUIRE_FALSE(plug(cid("77"), {ep}).error);
  guest vm({"surv", keep.bridge, "", ep.mac, cidr(ep), ep.gateway});
  echo_server server(vm.listener(SOCK_STREAM, 9000));

  stop(make_error(errc::internal, "a bug"));
  // The container's network is still there: bridge, tap, address, the path to it.
  CHECK(link_exists(keep.bridge));
  CHECK(ports_of(keep.bridge).count(tap_name(cid("77"), 0)) == 1);
  auto c = connect_tcp(ep.ip, 9000);
  CHECK(echo_once(c.fd, "still here") == "still here");
  CHECK_THAT(nft_tables(), Catch::Contains("berth"));

  start();
  CHECK(inspect("keep").leases.size() == 1);
  // Plugging it again adopts the tap that is there.
  auto again = plug(cid("77"), {ep});
  REQUIRE_FALSE(again.error);
  CHECK(ports_of(keep.bridge).count(tap_name(cid("77"), 0)) == 1);
  auto q = vm.socket(SOCK_DGRAM);
  CHECK(resolve(q.fd, "10.91.8.1", "survivor") == std::vector<std::string>{ep.ip});
  auto c2 = connect_tcp(ep.ip, 9000);
  CHECK(echo_once(c2.fd, "after") == "after");
}

TEST_CASE_METHOD(fixture,
                 "containers reach out through NAT, nothing new comes in, networks are apart") {
  start();
  // "Outside": a namespace behind a point-to-point link, 192.0.2.2, with a route back to the
  // host only (so an answer to a container's own address could never arrive there).
  guest outside({"wan", "", "192.0.2.1/24", "", "192.0.2.2/24", ""});
  echo_server far(outside.listener(SOCK_STREAM, 8000));

  auto out = create("out", "10.91.1.0/24");
  auto other = create("other", "10.91.2.0/24");
  auto sealed = create("sealed", "10.91.3.0/24", true);
  auto ea = attach(cid("a0"), "a", "out");
  auto eb = attach(cid("b0"), "b", "other");
  auto ei = attach(cid("c0"), "i", "sealed");
  REQUIRE_FALSE(plug(cid("a0"), {ea}).error);
  REQUIRE_FALSE(plug(cid("b0"), {eb}).error);
  REQUIRE_FALSE(plug(cid("c0"), {ei}).error);
  guest ga({"ga", out.bridge, "", ea.mac, cidr(ea), ea.gateway});
  guest gb({"gb", other.bridge, "", eb.mac, cidr(eb), eb.gateway});
  // An internal network gives no gateway; this guest routes through the bridge anyway.
  REQUIRE(ei.gateway.empty());
  guest gi({"gi", sealed.bridge, "", ei.mac, cidr(ei), "10.91.3.1"});
  echo_server at_b(gb.listener(SOCK_STREAM, 8000));
  echo_server at_a(ga.listener(SOCK_STREAM, 8000));

  // Out: masqueraded to the host's address on that link.
  auto c = ga.connect("192.0.2.2", 8000);
  REQUIRE(c.fd >= 0);
  CHECK(echo_once(c.fd, "out and back") == "out and back");
  CHECK(far.seen() == std::vector<std::string>{"192.0.2.1"});

  // Across networks: dropped.
  CHECK(ga.connect(eb.ip, 8000).fd < 0);
  CHECK(at_b.seen().empty());
  // In from outside, even with a route: dropped.
  outside.sh_in({"ip", "route", "add", "10.91.0.0/16", "via", "192.0.2.1"});
  CHECK(outside.connect(ea.ip, 8000).fd < 0);
  CHECK(at_a.seen().empty());
  // From the sealed network: nothing leaves, but names of its own network still resolve and
  // other names fail (no upstream for an internal network).
  CHECK(gi.connect("192.0.2.2", 8000).fd < 0);
  CHECK(far.seen().size() == 1);
  auto q = gi.socket(SOCK_DGRAM);
  CHECK(resolve(q.fd, "10.91.3.1", "i") == std::vector<std::string>{ei.ip});
  CHECK(resolve(q.fd, "10.91.3.1", "example.com") == std::vector<std::string>{"rcode 2"});
  // Not even through the host: another network's container, its gateway's DNS responder.
  CHECK(gi.connect(ea.ip, 8000).fd < 0);
  CHECK(at_a.seen().empty());
  CHECK(resolve(q.fd, "10.91.1.1", "a") == std::vector<std::string>{"no answer"});
  auto qa = ga.socket(SOCK_DGRAM);
  CHECK(resolve(qa.fd, "10.91.1.1", "a") == std::vector<std::string>{ea.ip});
  CHECK(resolve(qa.fd, "10.91.2.1", "b") == std::vector<std::string>{"no answer"});
  // The host itself reaches every container.
  auto direct = connect_tcp(eb.ip, 8000);
  CHECK(echo_once(direct.fd, "host to b") == "host to b");

  // The control: without berth's table the refused paths are open (so it was the firewall that
  // closed them, not a missing route).
  sh({"nft", "delete", "table", "inet", "berth"});
  auto across = ga.connect(eb.ip, 8000);
  CHECK(echo_once(across.fd, "across") == "across");
  auto in = outside.connect(ea.ip, 8000);
  CHECK(echo_once(in.fd, "in") == "in");
}

TEST_CASE_METHOD(fixture,
                 "a stopped net supervisor leaves no bridge, tap, port or berth table behind") {
  start();
  auto app = create("app", "10.91.0.0/24");
  auto id = cid("dead");
  auto e0 = attach(id, "x", "app");
  auto e1 = attach(id, "x", "default");
  auto p = plug(id, {e0, e1}, {port(8080), port(53, "udp")});
  REQUIRE_FALSE(p.error);
  CHECK(berth_bridges().size() == 2);
  stop();
  CHECK(berth_bridges().empty());
  CHECK_FALSE(link_exists(tap_name(id, 0)));
  CHECK_FALSE(link_exists(tap_name(id, 1)));
  CHECK_THAT(nft_tables(), !Catch::Contains("berth"));
  CHECK(connect_tcp("127.0.0.1", p.ports[0].host_port).fd < 0);
  CHECK(bound(SOCK_DGRAM, "127.0.0.1", p.ports[1].host_port).fd >= 0);
  CHECK(data->by_name("app"));
  CHECK(data->by_name("app")->leases.size() == 1);
}
