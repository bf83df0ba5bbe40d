// listener.cpp: binds berthd's socket and forks a session broker for each client it admits
// (peer.hpp: root, berthd's user, its group; at most max_connections at once); the route table
// is built once here and shared by every session.
#include "api/peer.hpp"
#include "api/session.hpp"

#include "berth/actors/log.hpp"
#include "berth/os/fd.hpp"
#include "berth/os/socket.hpp"
#include "berth/rpc/client.hpp"
#include "berth/supervisor/api_server.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/io/system_messages.hpp>
#include <caf/local_actor.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

namespace berth::api_server {

namespace fs = std::filesystem;

namespace {

inline constexpr log::logger listener_log("rpc");

// Tells a client it is not served, then closes its connection. The answer is written straight
// to the new socket (a few hundred bytes always fit its empty buffer), so nothing of the
// connection outlives this call, and nothing it sent is read.
void refuse(caf::io::broker* self, caf::io::connection_handle conn, errc code,
            const std::string& why) {
  auto bytes = rpc::encode_error(0, code, why);
  [[maybe_unused]] auto n =
      ::send(static_cast<int>(conn.id()), bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  self->close(conn);
}

caf::behavior listener(caf::io::broker* self, int fd, options opts, std::string path,
                       access_policy policy) {
  self->add_doorman(fd);
  self->attach_functor([path] { ::unlink(path.c_str()); });
  auto routes = std::make_shared<const route_table>(make_routes(opts));
  auto open = std::make_shared<std::size_t>(0);
  self->set_down_handler([open](caf::down_msg&) { --*open; });
  return {
      [self, opts, routes, policy, open](const caf::io::new_connection_msg& msg) {
        // A connection handle of CAF's default multiplexer is its socket.
        auto peer = peer_of(static_cast<int>(msg.handle.id()));
        if (!peer)
          return refuse(self, msg.handle, errc::unauthorized,
                        "permission denied: berthd cannot tell who this client is");
        if (!admitted(policy, *peer)) {
          listener_log.warn("refused a client: uid {} pid {} is not root nor in berthd's group",
                            peer->uid, peer->pid);
          return refuse(self, msg.handle, errc::unauthorized, refusal(policy, *peer));
        }
        if (*open >= opts.max_connections) {
          listener_log.warn("refused a client: {} connections are open", *open);
          return refuse(self, msg.handle, errc::unavailable,
                        "berthd serves at most " + std::to_string(opts.max_connections) +
                            " connections at once (--max-connections); try again later");
        }
        auto s = self->fork(session, msg.handle, opts, routes);
        self->monitor(s);
        ++*open;
      },
  };
}

}  // namespace

caf::expected<caf::actor> spawn(caf::local_actor* parent, const options& opts) {
  std::string path;
  try {
    path = rpc::socket_path(opts.host);
  } catch (const rpc::call_error& e) {
    return make_error(e.code(), e.what());
  }
  // Another daemon answering here must not lose its socket to us.
  try {
    rpc::client::connect(opts.host);
    return make_error(errc::already_exists, "another berthd is listening on " + opts.host);
  } catch (const rpc::call_error&) {
  }
  std::string why;
  auto policy = make_policy(opts.group, why);
  if (!policy) return make_error(errc::invalid_argument, why);
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  os::unique_fd fd;
  try {
    // The file has this mode from bind() on (listen_unix narrows the socket before it binds):
    // 0600 for berthd's user alone, 0660 once it belongs to berthd's group.
    fd = os::listen_unix(path, policy->group ? 0660 : 0600, 64, true);
    if (policy->group && ::chown(path.c_str(), ::geteuid(), *policy->group) != 0)
      throw std::system_error(errno, std::generic_category(), "chown");
  } catch (const std::system_error& e) {
    ::unlink(path.c_str());
    return make_error(e.code().value() == ENAMETOOLONG ? errc::invalid_argument : errc::io,
                      "cannot listen on " + path + ": " + e.what());
  }
  auto server =
      parent->home_system().middleman().spawn_broker(listener, fd.release(), opts, path, *policy);
  parent->link_to(server);
  listener_log.info("listening on unix://{} for root{}", path,
                    policy->group ? " and group " + policy->group_name : std::string(" only"));
  return server;
}

}  // namespace berth::api_server
