// image_supervisor.cpp: the image supervisor's behaviour, which dispatches each call to the parts
// beside it (see images_state.hpp), the chunking of saved archives, and its spawn functions.
#include "images_state.hpp"

#include "berth/actors/job.hpp"
#include "berth/image/content_store.hpp"
#include "berth/image/credentials.hpp"
#include "berth/image/layout.hpp"
#include "berth/image/manifest.hpp"
#include "berth/image/reference.hpp"
#include "berth/image/registry.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <algorithm>
#include <set>

namespace berth::image {

namespace fs = std::filesystem;

namespace detail {

namespace {

// Bytes per chunk of a saved archive sent to the sink (the wire allows 1 MiB).
constexpr size_t save_chunk_bytes = 512 * 1024;

// The registry settings with logins filled in.
registry_options with_credentials(registry_options opts, std::shared_ptr<credential_store> creds) {
  if (!opts.credentials)
    opts.credentials = [creds](std::string_view server) { return creds->get(server); };
  return opts;
}

// Sends a saved archive to `sink` in chunks, as the stream messages of the interface.
class chunk_sender {
 public:
  explicit chunk_sender(caf::actor sink) : sink_(std::move(sink)) {
    buf_.reserve(save_chunk_bytes);
  }

  caf::expected<void> write(std::string_view bytes) {
    while (!bytes.empty()) {
      auto take = std::min(bytes.size(), save_chunk_bytes - buf_.size());
      buf_.insert(buf_.end(), bytes.data(), bytes.data() + take);
      bytes.remove_prefix(take);
      if (buf_.size() == save_chunk_bytes) flush();
    }
    return {};
  }

  void flush() {
    if (buf_.empty()) return;
    caf::anon_send(sink_, output_atom_v, std::string{}, uint8_t{1}, int64_t{0}, std::move(buf_));
    buf_ = std::vector<char>{};
    buf_.reserve(save_chunk_bytes);
  }

 private:
  caf::actor sink_;
  std::vector<char> buf_;
};

image_supervisor_actor::behavior_type images_behavior(self_ptr self, image_options opts) {
  auto& st = self->state;
  st.opts = std::move(opts);
  st.creds = std::make_shared<credential_store>(st.opts.data_root / "credentials.json",
                                                st.opts.docker_config);
  st.opts.registry = with_credentials(st.opts.registry, st.creds);
  if (auto store = store_to_load_from(self)) {
    self->request(store, caf::infinite, list_atom_v, image_atom_v)
        .await(
            [self](std::vector<image_record>& records) {
              for (auto& rec : records) self->state.images[rec.id] = std::move(rec);
              images_log.info("loaded {} images", self->state.images.size());
            },
            [self](caf::error& err) {
              images_log.error("cannot load images: {}", describe(err));
              self->quit(err);
            });
  }
  // Ingest files of a load or pull that died with a previous berthd are garbage. Awaited: no
  // load or pull may start (and write an ingest file) before they are gone.
  run_job(self,
          [root = st.opts.data_root] {
            auto store = content_store::open(root / "content");
            if (!store) return caf::expected<size_t>(store.error());
            return store->remove_stale_ingests();
          })
      .await(
          [](size_t n) {
            if (n) images_log.info("removed {} stale ingest files", n);
          },
          [](caf::error& err) { images_log.warn("{}", describe(err)); });
  // A listener that goes away stops hearing progress; a pull nobody listens to any more (every
  // client hung up) is cancelled.
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [key, job] : self->state.pulls) {
      if (!job.shared->remove_listener(msg.source)) continue;
      if (job.shared->listeners() == 0 && job.without_listener == 0 && !job.shared->cancel.load()) {
        images_log.info("pull of {} cancelled: every client went away", job.ref.to_string());
        job.shared->cancel = true;
      }
    }
  });
  return {
      [self](load_atom, const std::string& path) -> caf::result<std::vector<api::image_info>> {
        auto rp = self->make_response_promise<std::vector<api::image_info>>();
        auto lease = self->state.leases->open();
        run_job(self, [root = self->state.opts.data_root, limits = self->state.opts.unpack,
                       path] { return load_images(root, path, limits); })
            .then(
                [self, rp, lease](std::vector<image_record>& loaded) mutable {
                  std::vector<api::image_info> out;
                  for (auto& rec : loaded) {
                    auto tag = rec.tags.empty() ? std::string{} : rec.tags.front();
                    auto& current = merge(self, std::move(rec));
                    images_log.info("image={} loaded{}", short_of(current.id),
                                    tag.empty() ? "" : " as " + tag);
                    out.push_back(to_info(current));
                  }
                  close_lease(self, lease);
                  rp.deliver(std::move(out));
                },
                [self, rp, lease](caf::error& err) mutable {
                  close_lease(self, lease);
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [self](list_atom) {
        std::vector<api::image_info> out;
        std::vector<const image_record*> recs;
        for (auto& [id, rec] : self->state.images) recs.push_back(&rec);
        std::sort(recs.begin(), recs.end(), [](auto* a, auto* b) { return a->loaded > b->loaded; });
        for (auto* rec : recs) out.push_back(to_info(*rec));
        return out;
      },
      [self](resolve_atom, const std::string& text) -> caf::result<image_runtime> {
        auto found = lookup(self->state, text);
        if (!found) return found.error();
        auto& r = *found->rec;
        image_runtime rt;
        rt.id = r.id;
        rt.reference = !found->tag.empty() ? found->tag : r.tags.empty() ? r.id : r.tags.front();
        rt.disk = r.disk;
        rt.entrypoint = r.entrypoint;
        rt.cmd = r.cmd;
        rt.env = r.env;
        rt.workdir = r.workdir;
        rt.user = r.user;
        rt.stop_signal = r.stop_signal;
        rt.exposed_ports = r.exposed_ports;
        rt.healthcheck = r.healthcheck;
        rt.labels = r.labels;
        return rt;
      },
      [self](pull_atom, const std::string& text, const std::string& platform_text,
             const caf::actor& listener) -> caf::result<api::image_info> {
        auto ref = parse_reference(text);
        if (!ref) return ref.error();
        auto want = platform_text.empty() ? caf::expected<platform>{default_platform()}
                                          : parse_platform(platform_text);
        if (!want) return want.error();
        auto key = ref->to_string() + " " + want->to_string();
        auto& st = self->state;
        bool fresh = !st.pulls.count(key);
        auto& job = st.pulls[key];
        if (fresh) {
          job.ref = *ref;
          job.want = *want;
        } else {
          images_log.info("pull of {} joins the one in flight", key);
        }
        auto rp = self->make_response_promise<api::image_info>();
        job.promises.push_back(rp);
        if (listener) {
          job.shared->add_listener(listener, text);
          self->monitor(listener);
        } else {
          ++job.without_listener;
        }
        if (fresh) start_puller(self, key);
        return rp;
      },
      [self](push_atom, const std::string& text,
             const caf::actor& listener) -> caf::result<api::pushed> {
        auto ref = parse_reference(text);
        if (!ref) return ref.error();
        if (ref->tag.empty() || !ref->digest.empty())
          return make_error(errc::invalid_argument,
                            "push needs a reference with a tag and no digest: " + text);
        auto found = lookup(self->state, ref->to_string());
        if (!found)
          return make_error(errc::not_found,
                            "An image does not exist locally with the tag: " + ref->familiar());
        auto manifest = found->rec->manifest_digest;
        auto id = found->rec->id;
        auto rp = self->make_response_promise<api::pushed>();
        run_job(self,
                [root = self->state.opts.data_root, reg = self->state.opts.registry, ref = *ref,
                 manifest, listener, text]() -> caf::expected<api::pushed> {
                  auto store = content_store::open(root / "content");
                  if (!store) return store.error();
                  progress_fn progress;
                  if (listener)
                    progress = [listener, text](const api::progress& p) {
                      auto q = p;
                      q.reference = text;
                      caf::anon_send(listener, progress_atom_v, q);
                    };
                  return push_image(*store, ref, manifest, reg, progress);
                })
            .then(
                [self, rp, id, ref = *ref](api::pushed& pushed) mutable {
                  auto& st = self->state;
                  if (auto i = st.images.find(id); i != st.images.end()) {
                    auto repo_digest = ref.name() + "@" + pushed.digest;
                    auto& rds = i->second.repo_digests;
                    if (std::find(rds.begin(), rds.end(), repo_digest) == rds.end()) {
                      rds.push_back(repo_digest);
                      save(self, i->second);
                    }
                  }
                  images_log.info("image={} pushed as {} ({})", short_of(id), ref.to_string(),
                                  pushed.digest);
                  rp.deliver(std::move(pushed));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](tag_atom, const std::string& source, const std::string& target) -> caf::result<void> {
        auto found = lookup(self->state, source);
        if (!found) return found.error();
        auto ref = parse_reference(target);
        if (!ref) return ref.error();
        if (!ref->digest.empty())
          return make_error(errc::invalid_argument,
                            "refusing to create a tag with a digest reference: " + target);
        auto full = ref->to_string();
        auto id = found->rec->id;
        for (auto& [other_id, other] : self->state.images) {
          if (other_id == id) continue;
          if (std::erase(other.tags, full) > 0) save(self, other);
        }
        auto& rec = self->state.images.at(id);
        if (std::find(rec.tags.begin(), rec.tags.end(), full) == rec.tags.end()) {
          rec.tags.push_back(full);
          save(self, rec);
        }
        return caf::unit;
      },
      [self](remove_atom, const std::string& text, bool force) -> caf::result<api::removed> {
        auto found = lookup(self->state, text);
        if (!found) return found.error();
        auto id = found->rec->id;
        auto rp = self->make_response_promise<api::removed>();
        with_containers(self, [self, rp, id, text, force, by_id = found->by_id,
                               tag = found->tag](std::vector<container_record> containers) mutable {
          auto& st = self->state;
          auto i = st.images.find(id);
          if (i == st.images.end()) {
            rp.deliver(make_error(errc::not_found, "No such image: " + text));
            return;
          }
          auto& rec = i->second;
          api::removed out;
          // One tag of several: only that name goes.
          if (!by_id && rec.tags.size() > 1) {
            std::erase(rec.tags, tag);
            out.untagged.push_back(familiar(tag));
            save(self, rec);
            rp.deliver(std::move(out));
            return;
          }
          if (by_id && rec.tags.size() > 1 && !force) {
            rp.deliver(
                make_error(errc::conflict,
                           fmt::format("conflict: unable to delete {} (must be forced) - image is "
                                       "referenced in multiple repositories",
                                       short_of(id))));
            return;
          }
          const container_record* user = nullptr;
          for (auto& c : containers)
            if (c.image_id == id && (!user || c.state == state::running)) user = &c;
          if (user) {
            if (!force) {
              auto what =
                  by_id ? fmt::format("unable to delete {} (must be forced)", short_of(id))
                        : fmt::format("unable to remove repository reference \"{}\" (must force)",
                                      familiar(tag));
              rp.deliver(make_error(
                  errc::conflict,
                  fmt::format("conflict: {} - container {} is using its referenced image {}", what,
                              user->id.substr(0, 12), short_of(id))));
              return;
            }
            // Forced: the names go, the image stays while containers use it (prune takes it later).
            untag_all(rec, out);
            save(self, rec);
            rp.deliver(std::move(out));
            return;
          }
          untag_all(rec, out);
          sweep_plan plan;
          drop_image(self, id, out, plan);
          plan.referenced = referenced_blobs(st);
          run_sweep(self, std::move(plan), std::move(out), rp);
        });
        return rp;
      },
      [self](prune_atom, bool all) -> caf::result<api::removed> {
        auto rp = self->make_response_promise<api::removed>();
        with_containers(self, [self, rp, all](std::vector<container_record> containers) mutable {
          auto& st = self->state;
          std::set<std::string> used;
          for (auto& c : containers) used.insert(c.image_id);
          api::removed out;
          sweep_plan plan;
          std::vector<std::string> victims;
          for (auto& [id, rec] : st.images)
            if ((rec.tags.empty() || all) && !used.count(id)) victims.push_back(id);
          for (auto& id : victims) {
            untag_all(st.images.at(id), out);
            drop_image(self, id, out, plan);
          }
          plan.all_blobs = true;
          plan.orphan_dirs = true;
          plan.referenced = referenced_blobs(st);
          for (auto& [id, rec] : st.images) plan.live_ids.insert(hex_of(id));
          run_sweep(self, std::move(plan), std::move(out), rp);
        });
        return rp;
      },
      [self](save_atom, const std::vector<std::string>& refs,
             const caf::actor& sink) -> caf::result<void> {
        if (refs.empty())
          return make_error(errc::invalid_argument, "save needs at least one image");
        if (!sink) return make_error(errc::invalid_argument, "save needs a sink");
        struct wanted {
          std::string name;
          std::string manifest;
          platform p;
        };
        std::vector<wanted> images;
        for (auto& text : refs) {
          auto found = lookup(self->state, text);
          if (!found) return found.error();
          images.push_back({found->tag, found->rec->manifest_digest,
                            platform{found->rec->os, found->rec->architecture, ""}});
        }
        caf::response_promise rp = self->make_response_promise();
        auto lease = self->state.leases->open();
        run_job(self,
                [root = self->state.opts.data_root, images, sink]() -> caf::expected<bool> {
                  auto store = content_store::open(root / "content");
                  if (!store) return store.error();
                  std::vector<archive_image> entries;
                  for (auto& w : images) {
                    auto text = store->read_small(w.manifest, max_manifest_bytes);
                    if (!text) return text.error();
                    auto m = parse_manifest(*text, {});
                    if (!m) return m.error();
                    archive_image a;
                    a.name = w.name;
                    a.manifest.media_type = m->media_type;
                    a.manifest.digest = w.manifest;
                    a.manifest.size = text->size();
                    if (!w.p.os.empty()) a.manifest.platform = w.p;
                    entries.push_back(std::move(a));
                  }
                  chunk_sender out{sink};
                  auto ok = write_oci_archive(*store, entries,
                                              [&](std::string_view b) { return out.write(b); });
                  if (!ok) return ok.error();
                  out.flush();
                  caf::anon_send(sink, end_atom_v, std::string{});
                  return true;
                })
            .then(
                [self, rp, lease](bool) mutable {
                  close_lease(self, lease);
                  rp.deliver(caf::unit);
                },
                [self, rp, lease](caf::error& err) mutable {
                  close_lease(self, lease);
                  rp.deliver(std::move(err));
                });
        return rp;
      },
      [self](inspect_atom, const std::string& text) -> caf::result<api::image_detail> {
        auto found = lookup(self->state, text);
        if (!found) return found.error();
        auto& r = *found->rec;
        api::image_detail d;
        d.info = to_info(r);
        d.layers = r.layers;
        d.entrypoint = r.entrypoint;
        d.cmd = r.cmd;
        d.env = r.env;
        d.workdir = r.workdir;
        d.user = r.user;
        d.stop_signal = r.stop_signal;
        d.exposed_ports = r.exposed_ports;
        d.volumes = r.volumes;
        d.labels = r.labels;
        d.healthcheck = r.healthcheck;
        return d;
      },
      [self](login_atom, const std::string& server, const std::string& user,
             const std::string& password) -> caf::result<void> {
        auto key = normalize_server(server);
        if (!key) return key.error();
        if (user.empty()) return make_error(errc::invalid_argument, "login needs a user name");
        caf::response_promise rp = self->make_response_promise();
        run_job(self,
                [reg = self->state.opts.registry, creds = self->state.creds, key = *key, user,
                 password]() -> caf::expected<bool> {
                  credential c{user, password};
                  if (auto ok = check_login(key, c, reg); !ok) return ok.error();
                  if (auto ok = creds->put(key, c); !ok) return ok.error();
                  return true;
                })
            .then(
                [rp, key = *key](bool) mutable {
                  images_log.info("logged in to {}", key);
                  rp.deliver(caf::unit);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](logout_atom, const std::string& server) -> caf::result<void> {
        caf::response_promise rp = self->make_response_promise();
        run_job(self,
                [creds = self->state.creds, server]() -> caf::expected<bool> {
                  if (auto ok = creds->erase(server); !ok) return ok.error();
                  return true;
                })
            .then([rp](bool) mutable { rp.deliver(caf::unit); },
                  [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
  };
}

}  // namespace

}  // namespace detail

image_supervisor_actor spawn_image_supervisor(caf::local_actor* parent, fs::path data_root) {
  image_options opts;
  opts.data_root = std::move(data_root);
  return spawn_image_supervisor(parent, std::move(opts));
}

image_supervisor_actor spawn_image_supervisor(caf::local_actor* parent, image_options options) {
  return parent->spawn<caf::linked>(detail::images_behavior, std::move(options));
}

}  // namespace berth::image
