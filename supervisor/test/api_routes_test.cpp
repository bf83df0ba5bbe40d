// Tests for berthd's request routing (supervisor/src/api/): the route table covers the api, and a
// real session on a unix socket, spoken to with the real codec and client, answers every method
// (without the supervisors running: their calls answer unavailable), refuses unknown ones with
// no_such_method, and spools image.load uploads in order and within the limit, deleting the spool
// file on every way an upload can end.
#include "api/handler.hpp"

#include "berth/actors/images.hpp"
#include "berth/actors/testing/temp_dir.hpp"
#include "berth/rpc/client.hpp"
#include "berth/supervisor/api_server.hpp"

#include <caf/actor_cast.hpp>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <thread>

using namespace berth;
namespace fs = std::filesystem;

namespace {

struct config : caf::actor_system_config {
  config() {
    load<caf::io::middleman>();
    add_message_types<caf::id_block::berth>();
  }
};

// Named in api::method, documented as not served yet (docs/protocol.md).
bool unserved(std::string_view method) {
  return method == api::method::network_connect || method == api::method::network_disconnect;
}

// A berthd API server on a socket in a temporary directory, without the rest of the tree.
struct server_fixture {
  testing::temp_dir dir{"berth-api"};
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor parent{sys};
  api_server::options opts;
  caf::actor server;

  explicit server_fixture(uint64_t max_upload = 64ull << 30) {
    opts.host = "unix://" + (dir.path / "berthd.sock").string();
    opts.upload_dir = dir.path / "tmp";
    opts.version = "test";
    opts.max_upload = max_upload;
    opts.fault_injection = true;
    auto h = api_server::spawn(caf::actor_cast<caf::local_actor*>(parent.ptr()), opts);
    REQUIRE(h);
    server = *h;
  }

  ~server_fixture() {
    parent->unlink_from(server);
    parent->send_exit(server, caf::exit_reason::user_shutdown);
  }

  rpc::client connect() { return rpc::client::connect(opts.host); }

  // Files in the upload directory.
  std::size_t spooled() const {
    std::error_code ec;
    if (!fs::exists(opts.upload_dir, ec)) return 0;
    return static_cast<std::size_t>(
        std::distance(fs::directory_iterator(opts.upload_dir), fs::directory_iterator{}));
  }
};

// Polls `ready` for up to 5 s: the spool writer deletes its file on its own thread.
template <class F>
bool eventually(F ready) {
  for (int i = 0; i < 500; ++i) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return ready();
}

// The error class of calling `method` with `arg`.
template <class T>
errc call_code(rpc::client& c, std::string_view method, const T& arg) {
  return rpc::error_of(c.wait(c.send(method, arg))).code;
}

// An image supervisor stand-in that answers a load with one image whose id is the file's content.
caf::behavior fake_images(caf::event_based_actor*) {
  return {
      [](load_atom, const std::string& path) {
        std::ifstream in(path, std::ios::binary);
        api::image_info info;
        info.id.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        return std::vector<api::image_info>{info};
      },
  };
}

}  // namespace

TEST_CASE("every method of the api has a route, except the two named but not served yet") {
  api_server::options opts;
  opts.fault_injection = true;
  auto routes = api_server::make_routes(opts);
  for (auto method : api::method::all) {
    INFO(method);
    CHECK(routes.count(method) == (unserved(method) ? 0u : 1u));
  }
  CHECK(routes.size() == api::method::all.size() - 2);
}

TEST_CASE("debug.crash has a route only with fault injection") {
  api_server::options opts;
  CHECK(api_server::make_routes(opts).count(api::method::debug_crash) == 0);
  opts.fault_injection = true;
  CHECK(api_server::make_routes(opts).count(api::method::debug_crash) == 1);
}

TEST_CASE("a session answers every routed method and refuses the others with no_such_method") {
  server_fixture srv;
  auto c = srv.connect();
  for (auto method : api::method::all) {
    INFO(method);
    auto code = call_code(c, method, api::empty{});
    if (unserved(method))
      CHECK(code == errc::no_such_method);
    else
      CHECK(code != errc::no_such_method);
  }
  CHECK(call_code(c, "no.such.method", api::empty{}) == errc::no_such_method);
  // The session survived all of it.
  CHECK(call_code(c, api::method::system_ping, api::empty{}) == errc::none);
  CHECK(call_code(c, api::method::container_list, api::list_request{}) == errc::unavailable);
  CHECK(call_code(c, api::method::stream_resize, api::resize_request{}) == errc::not_found);
}

TEST_CASE("an upload is written in order and handed to the image supervisor") {
  server_fixture srv;
  auto images = srv.sys.spawn(fake_images);
  srv.sys.registry().put(registry_key(image_supervisor_name), images);
  auto c = srv.connect();
  auto up = c.call<api::upload>(api::method::image_load_begin, api::empty{});
  CHECK(srv.spooled() == 1);
  for (std::string piece : {"first,", "second,", "third"}) {
    api::upload_chunk chunk;
    chunk.upload_id = up.upload_id;
    chunk.data.assign(piece.begin(), piece.end());
    c.call<api::empty>(api::method::image_load_chunk, chunk);
  }
  auto loaded = c.call<std::vector<api::image_info>>(api::method::image_load_end, up);
  REQUIRE(loaded.size() == 1);
  CHECK(loaded[0].id == "first,second,third");
  CHECK(eventually([&] { return srv.spooled() == 0; }));
  srv.sys.registry().erase(registry_key(image_supervisor_name));
  caf::anon_send_exit(images, caf::exit_reason::user_shutdown);
}

TEST_CASE("an upload over the limit is refused and its spool file deleted") {
  server_fixture srv(8);
  auto c = srv.connect();
  auto up = c.call<api::upload>(api::method::image_load_begin, api::empty{});
  api::upload_chunk chunk;
  chunk.upload_id = up.upload_id;
  chunk.data.assign(5, 'x');
  CHECK(call_code(c, api::method::image_load_chunk, chunk) == errc::none);
  CHECK(call_code(c, api::method::image_load_chunk, chunk) == errc::invalid_argument);
  CHECK(eventually([&] { return srv.spooled() == 0; }));
  CHECK(call_code(c, api::method::image_load_end, up) == errc::not_found);
}

TEST_CASE("an upload ended without an image supervisor, or left by its client, leaves no file") {
  server_fixture srv;
  {
    auto c = srv.connect();
    auto up = c.call<api::upload>(api::method::image_load_begin, api::empty{});
    CHECK(call_code(c, api::method::image_load_end, up) == errc::unavailable);
    CHECK(eventually([&] { return srv.spooled() == 0; }));
    c.call<api::upload>(api::method::image_load_begin, api::empty{});
    CHECK(srv.spooled() == 1);
  }
  // The client went away in the middle of its upload.
  CHECK(eventually([&] { return srv.spooled() == 0; }));
}
