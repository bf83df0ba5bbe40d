// Tests of the image supervisor on a real actor system with an in-memory store, against real
// registries: shared pullers, crash and restart, cancellation, push/pull round trips, tags,
// rm and prune against the blobs they leave, save, login and logout.
#include "registry_support.hpp"

#include "berth/actors/store.hpp"
#include "berth/image/image_supervisor.hpp"

#include <sys/stat.h>
#include <caf/actor_registry.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <catch2/catch.hpp>

#include <mutex>

using namespace berth;
using namespace berth::image;
using namespace berth::image::test;

namespace {

struct config : caf::actor_system_config {
  config() { add_message_types<caf::id_block::berth>(); }
};

struct mem_store_state {
  std::map<std::string, container_record> containers;
  std::map<std::string, image_record> images;
  std::map<std::string, volume_record> volumes;
};

store_actor::behavior_type mem_store(store_actor::stateful_pointer<mem_store_state> self) {
  return {
      [self](save_atom, const container_record& c) { self->state.containers[c.id] = c; },
      [self](erase_atom, container_atom, const std::string& id) {
        self->state.containers.erase(id);
      },
      [self](list_atom, container_atom) {
        std::vector<container_record> out;
        for (auto& [id, c] : self->state.containers) out.push_back(c);
        return out;
      },
      [self](save_atom, const image_record& r) { self->state.images[r.id] = r; },
      [self](erase_atom, image_atom, const std::string& id) { self->state.images.erase(id); },
      [self](list_atom, image_atom) {
        std::vector<image_record> out;
        for (auto& [id, r] : self->state.images) out.push_back(r);
        return out;
      },
      [self](save_atom, const volume_record& v) { self->state.volumes[v.name] = v; },
      [self](erase_atom, volume_atom, const std::string& name) { self->state.volumes.erase(name); },
      [self](list_atom, volume_atom) {
        std::vector<volume_record> out;
        for (auto& [name, v] : self->state.volumes) out.push_back(v);
        return out;
      },
      [](save_atom, const network_record&) {},
      [](erase_atom, network_atom, const std::string&) {},
      [](list_atom, network_atom) { return std::vector<network_record>{}; },
  };
}

// What a listener or sink actor received.
struct inbox {
  std::mutex m;
  std::vector<api::progress> progress;
  std::string bytes;
  bool ended = false;
};

caf::behavior collector(caf::event_based_actor*, std::shared_ptr<inbox> box) {
  return {
      [box](progress_atom, const api::progress& p) {
        std::lock_guard<std::mutex> guard{box->m};
        box->progress.push_back(p);
      },
      [box](output_atom, const std::string&, uint8_t, int64_t, const std::vector<char>& data) {
        std::lock_guard<std::mutex> guard{box->m};
        box->bytes.append(data.data(), data.size());
      },
      [box](end_atom, const std::string&) {
        std::lock_guard<std::mutex> guard{box->m};
        box->ended = true;
      },
  };
}

const fs::path& fixtures() {
  static temp_dir dir;
  static bool built = false;
  if (!built) {
    build_registry_fixtures(dir.path());
    build_busybox_fixture(dir.path());
    built = true;
  }
  return dir.path();
}

struct fixture {
  config cfg;
  caf::actor_system sys{cfg};
  caf::scoped_actor self{sys};
  temp_dir data;
  store_actor store;
  image_supervisor_actor images;

  explicit fixture(image_options opts = {}) {
    store = sys.spawn(mem_store);
    sys.registry().put(registry_key(store_name), caf::actor_cast<caf::strong_actor_ptr>(store));
    opts.data_root = data.path();
    if (opts.registry.certs_dir == registry_options{}.certs_dir)
      opts.registry.certs_dir = "/nonexistent";
    opts.registry.backoff = std::chrono::milliseconds{10};
    opts.docker_config.clear();
    images =
        spawn_image_supervisor(caf::actor_cast<caf::local_actor*>(self.ptr()), std::move(opts));
  }

  ~fixture() {
    self->unlink_from(images);
    self->send_exit(images, caf::exit_reason::user_shutdown);
    self->send_exit(store, caf::exit_reason::user_shutdown);
    sys.registry().erase(registry_key(store_name));
  }

  caf::actor listener(std::shared_ptr<inbox> box) { return sys.spawn(collector, box); }

  template <class T, class... Ts>
  caf::expected<T> ask(Ts&&... xs) {
    caf::expected<T> out = make_error(errc::internal, "no answer");
    self->request(images, caf::infinite, std::forward<Ts>(xs)...)
        .receive([&](T& x) { out = std::move(x); }, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::expected<void> ask_void(auto&&... xs) {
    caf::expected<void> out = caf::unit;
    self->request(images, caf::infinite, xs...)
        .receive([] {}, [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  caf::expected<api::image_info> pull(const std::string& ref, caf::actor listener = {}) {
    return ask<api::image_info>(pull_atom_v, ref, std::string{}, listener);
  }

  std::vector<api::image_info> list() {
    return ask<std::vector<api::image_info>>(list_atom_v).value();
  }

  std::vector<std::string> blobs() {
    auto store = content_store::open(data / "content");
    return store->list().value();
  }
};

}  // namespace

TEST_CASE(
    "concurrent pulls of one image share one puller, and every caller gets the image and "
    "progress") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  fault_proxy proxy{reg.port()};
  proxy.delay_ms = 50;
  fixture f;
  auto box1 = std::make_shared<inbox>();
  auto box2 = std::make_shared<inbox>();
  auto ref = proxy.host() + "/layered:latest";
  auto r1 =
      f.self->request(f.images, caf::infinite, pull_atom_v, ref, std::string{}, f.listener(box1));
  auto r2 = f.self->request(f.images, caf::infinite, pull_atom_v, proxy.host() + "/layered",
                            std::string{"linux/amd64"}, f.listener(box2));
  api::image_info a, b;
  r1.receive([&](api::image_info& x) { a = x; }, [](caf::error& e) { FAIL(describe(e)); });
  r2.receive([&](api::image_info& x) { b = x; }, [](caf::error& e) { FAIL(describe(e)); });
  CHECK(a.id == b.id);
  CHECK(a.tags == std::vector<std::string>{proxy.host() + "/layered:latest"});
  CHECK(proxy.count("GET", "/manifests/latest") == 1);
  auto layer_gets = proxy.count("GET", "/blobs/");
  CHECK(layer_gets == 4);  // config and three layers, once
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard<std::mutex> g1{box1->m};
    std::lock_guard<std::mutex> g2{box2->m};
    REQUIRE(!box1->progress.empty());
    REQUIRE(!box2->progress.empty());
    CHECK(box1->progress.back().reference == ref);
    CHECK(box2->progress.back().reference == proxy.host() + "/layered");
  }
  auto rt = f.ask<image_runtime>(resolve_atom_v, ref);
  REQUIRE(rt);
  CHECK(fs::file_size(rt->disk) > 0);
  auto detail = f.ask<api::image_detail>(inspect_atom_v, a.id.substr(7, 12));
  REQUIRE(detail);
  CHECK(detail->layers.size() == 3);
  CHECK(detail->labels.at("berth.fixture") == "layered");
  CHECK(detail->cmd == std::vector<std::string>{"sh"});
}

TEST_CASE("a crashed puller is restarted and resumes from what the content store holds") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  fault_proxy proxy{reg.port()};
  image_options opts;
  auto crashes = std::make_shared<std::atomic<int>>(0);
  auto first_blob = std::make_shared<std::string>();
  auto m = std::make_shared<std::mutex>();
  opts.after_blob = [crashes, first_blob, m](const std::string& digest) {
    if (crashes->fetch_add(1) == 0) {
      std::lock_guard<std::mutex> guard{*m};
      *first_blob = digest;
      throw std::runtime_error("injected crash after the first blob");
    }
  };
  fixture f{std::move(opts)};
  auto info = f.pull(proxy.host() + "/layered:latest");
  INFO(message(info));
  REQUIRE(info);
  REQUIRE(!first_blob->empty());
  // The blob stored before the crash was not fetched again.
  CHECK(proxy.count("GET", *first_blob) == 1);
  CHECK(proxy.count("GET", "/manifests/latest") == 2);
  CHECK(f.list().size() == 1);
}

TEST_CASE("a pull whose every listener goes away is cancelled") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  fault_proxy proxy{reg.port()};
  proxy.delay_ms = 300;
  fixture f;
  auto box = std::make_shared<inbox>();
  auto l = f.listener(box);
  auto r = f.self->request(f.images, caf::infinite, pull_atom_v, proxy.host() + "/layered:latest",
                           std::string{}, l);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.self->send_exit(l, caf::exit_reason::user_shutdown);
  caf::error got;
  r.receive([](api::image_info&) { FAIL("the pull finished"); }, [&](caf::error& e) { got = e; });
  CHECK(code_of(got) == errc::cancelled);
  CHECK(f.list().empty());
  CHECK(fs::is_empty(f.data / "content" / "ingest"));
}

TEST_CASE(
    "load, push, rm and pull give back the same image, and rm and prune delete exactly the "
    "unreferenced blobs") {
  registry_server reg;
  reg.push(fixtures() / "layered-oci", "layered:latest");
  fixture f;
  auto loaded =
      f.ask<std::vector<api::image_info>>(load_atom_v, (fixtures() / "busybox.tar").string());
  REQUIRE(loaded);
  REQUIRE(loaded->size() == 1);
  auto id = loaded->at(0).id;
  CHECK(f.blobs().size() == 3);

  auto target = reg.host() + "/lib/busybox:1";
  REQUIRE(f.ask_void(tag_atom_v, std::string{"busybox"}, target));
  auto box = std::make_shared<inbox>();
  auto pushed = f.ask<api::pushed>(push_atom_v, target, f.listener(box));
  INFO(message(pushed));
  REQUIRE(pushed);
  CHECK(pushed->digest == loaded->at(0).manifest_digest);
  CHECK(pushed->size > 1000000);

  // Untagging one of two tags deletes nothing.
  auto untag = f.ask<api::removed>(remove_atom_v, target, false);
  REQUIRE(untag);
  CHECK(untag->untagged == std::vector<std::string>{target});
  CHECK(untag->deleted.empty());
  CHECK(f.blobs().size() == 3);

  // The last tag: the image and its three blobs go.
  auto gone = f.ask<api::removed>(remove_atom_v, std::string{"busybox:latest"}, false);
  REQUIRE(gone);
  CHECK(gone->untagged.at(0) == "busybox:latest");
  CHECK(gone->deleted.size() == 4);  // the image id and three blobs
  CHECK(gone->reclaimed > 1000000);
  CHECK(f.blobs().empty());
  CHECK(fs::is_empty(f.data / "images"));
  CHECK(f.list().empty());

  auto back = f.pull(target);
  INFO(message(back));
  REQUIRE(back);
  CHECK(back->id == id);
  CHECK(back->manifest_digest == loaded->at(0).manifest_digest);
  CHECK(f.blobs().size() == 3);

  // A second image shares the busybox layer; moving its tag away leaves it dangling.
  auto layered = f.pull(reg.host() + "/layered:latest");
  REQUIRE(layered);
  CHECK(f.blobs().size() == 3 + 5 - 1);
  REQUIRE(f.ask_void(tag_atom_v, id, reg.host() + "/layered:latest"));
  auto pruned = f.ask<api::removed>(prune_atom_v, false);
  REQUIRE(pruned);
  CHECK(std::find(pruned->deleted.begin(), pruned->deleted.end(), layered->id) !=
        pruned->deleted.end());
  CHECK(pruned->deleted.size() == 1 + 4);  // the image, its manifest, config and two own layers
  CHECK(f.blobs().size() == 3);
  REQUIRE(f.list().size() == 1);
  CHECK(f.list().at(0).id == id);
  // Prune of everything unused: nothing uses busybox, so it goes too.
  auto all = f.ask<api::removed>(prune_atom_v, true);
  REQUIRE(all);
  CHECK(f.blobs().empty());
  CHECK(f.list().empty());
}

TEST_CASE(
    "rm refuses an image a container uses, and rm -f untags it and keeps it for the container") {
  fixture f;
  auto loaded =
      f.ask<std::vector<api::image_info>>(load_atom_v, (fixtures() / "busybox.tar").string());
  REQUIRE(loaded);
  auto id = loaded->at(0).id;
  container_record c;
  c.id = std::string(64, 'c');
  c.image_id = id;
  c.state = state::exited;
  f.self->request(f.store, caf::infinite, save_atom_v, c)
      .receive([] {}, [](caf::error& e) { FAIL(describe(e)); });
  auto refused = f.ask<api::removed>(remove_atom_v, std::string{"busybox"}, false);
  CHECK(code(refused) == errc::conflict);
  CHECK_THAT(message(refused),
             Catch::Contains("container cccccccccccc is using its referenced image"));
  auto forced = f.ask<api::removed>(remove_atom_v, std::string{"busybox"}, true);
  REQUIRE(forced);
  CHECK(forced->untagged == std::vector<std::string>{"busybox:latest"});
  CHECK(forced->deleted.empty());
  REQUIRE(f.list().size() == 1);
  CHECK(f.list().at(0).tags.empty());
  auto pruned = f.ask<api::removed>(prune_atom_v, true);
  REQUIRE(pruned);
  CHECK(pruned->deleted.empty());
  CHECK(f.blobs().size() == 3);
  CHECK(code(f.ask<api::removed>(remove_atom_v, std::string{"nothing:here"}, false)) ==
        errc::not_found);
}

TEST_CASE("save streams an OCI archive to the sink that load reads back as the same image") {
  fixture f;
  auto loaded =
      f.ask<std::vector<api::image_info>>(load_atom_v, (fixtures() / "busybox.tar").string());
  REQUIRE(loaded);
  REQUIRE(f.ask_void(tag_atom_v, std::string{"busybox"}, std::string{"example.com/x/bb:2"}));
  auto box = std::make_shared<inbox>();
  auto sink = f.listener(box);
  REQUIRE(f.ask_void(save_atom_v, std::vector<std::string>{"example.com/x/bb:2"}, sink));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string archive;
  {
    std::lock_guard<std::mutex> guard{box->m};
    CHECK(box->ended);
    archive = box->bytes;
  }
  CHECK(archive.size() > 1000000);
  temp_dir out;
  write_file(out / "saved.tar", archive);
  fixture g;
  auto again = g.ask<std::vector<api::image_info>>(load_atom_v, (out / "saved.tar").string());
  INFO(message(again));
  REQUIRE(again);
  REQUIRE(again->size() == 1);
  CHECK(again->at(0).id == loaded->at(0).id);
  CHECK(again->at(0).tags == std::vector<std::string>{"example.com/x/bb:2"});
  // skopeo reads it as an OCI archive too.
  auto r = run({"skopeo", "inspect", "--raw", "oci-archive:" + (out / "saved.tar").string()});
  CHECK(r.exit_code == 0);
}

TEST_CASE(
    "login checks the registry and keeps the login root-only, pulls use it, logout forgets it") {
  registry_server reg{registry_server::options{true, "carol", "pw1", nullptr}};
  reg.push(fixtures() / "layered-oci", "private/app:1");
  image_options opts;
  opts.registry.certs_dir = reg.certs_dir();
  opts.registry.loopback_insecure = false;
  fixture f{std::move(opts)};
  auto wrong = f.ask_void(login_atom_v, reg.host(), std::string{"carol"}, std::string{"nope"});
  CHECK(code_of(wrong.error()) == errc::unauthorized);
  CHECK(!fs::exists(f.data / "credentials.json"));
  auto denied = f.pull(reg.host() + "/private/app:1");
  CHECK_THAT(message(denied), Catch::Contains("authentication required"));
  REQUIRE(
      f.ask_void(login_atom_v, "https://" + reg.host(), std::string{"carol"}, std::string{"pw1"}));
  struct stat st {};
  REQUIRE(::stat((f.data / "credentials.json").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK_THAT(read_file(f.data / "credentials.json"), Catch::Contains(reg.host()));
  auto pulled = f.pull(reg.host() + "/private/app:1");
  INFO(message(pulled));
  CHECK(pulled);
  REQUIRE(f.ask_void(logout_atom_v, reg.host()));
  auto again = f.ask_void(logout_atom_v, reg.host());
  CHECK(code_of(again.error()) == errc::not_found);
  CHECK_THAT(read_file(f.data / "credentials.json"), !Catch::Contains(reg.host()));
}

TEST_CASE(
    "a load whose layer is malformed or over the caps fails with protocol and leaves nothing") {
  temp_dir src;
  std::vector<tar_entry> many;
  for (int i = 0; i < 20; ++i) many.push_back(file("f" + std::to_string(i), "x"));
  layout_builder big{src / "big"};
  big.finish({big.add_image({make_layer(many)})});
  layout_builder escape{src / "escape"};
  escape.finish({escape.add_image({make_layer({file("../../outside", "x")})})});
  image_options opts;
  opts.unpack.max_layer_entries = 10;
  fixture f{std::move(opts)};
  // The image's fault, not the caller's: protocol (the CLI's exit 6), not invalid_argument (9).
  auto over = f.ask<std::vector<api::image_info>>(load_atom_v, (src / "big").string());
  CHECK(code(over) == errc::protocol);
  CHECK_THAT(message(over), Catch::Contains("layer 0 (sha256:") &&
                                Catch::Contains("more than 10 entries") &&
                                Catch::Contains("max_layer_entries"));
  auto bad = f.ask<std::vector<api::image_info>>(load_atom_v, (src / "escape").string());
  CHECK(code(bad) == errc::protocol);
  CHECK_THAT(message(bad), Catch::Contains("malformed") && Catch::Contains("'..'"));
  // Nothing half-written: no unpack tree, no image directory, no image.
  CHECK((!fs::exists(f.data / "tmp") || fs::is_empty(f.data / "tmp")));
  CHECK((!fs::exists(f.data / "images") || fs::is_empty(f.data / "images")));
  CHECK(f.list().empty());
}
