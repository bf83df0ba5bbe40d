// image_gc.cpp: garbage collection: leases on blobs in use, and the sweep of image rm and prune.
#include "images_state.hpp"

#include "berth/actors/job.hpp"
#include "berth/image/content_store.hpp"

#include <sys/stat.h>

namespace berth::image::detail {

void close_lease(self_ptr self, uint64_t id) {
  if (id == 0) return;
  if (self->state.gc_running > 0)
    self->state.leases_to_close.push_back(id);
  else
    self->state.leases->close(id);
}

std::set<std::string> referenced_blobs(const images_state& st) {
  std::set<std::string> out;
  for (const auto& [id, rec] : st.images) {
    out.insert(rec.id);
    if (!rec.manifest_digest.empty()) out.insert(rec.manifest_digest);
    if (!rec.index_digest.empty()) out.insert(rec.index_digest);
    out.insert(rec.layers.begin(), rec.layers.end());
  }
  return out;
}

namespace {

caf::expected<api::removed> sweep(const fs::path& data_root, const lease_table& leases,
                                  sweep_plan plan) {
  api::removed out;
  std::error_code ec;
  auto images_dir = data_root / "images";
  if (plan.orphan_dirs && !leases.any())
    for (fs::directory_iterator i{images_dir, ec}, end; !ec && i != end; i.increment(ec))
      if (!plan.live_ids.count(i->path().filename().string()))
        plan.image_dirs.push_back(i->path().filename().string());
  for (const auto& hex : plan.image_dirs) {
    auto dir = images_dir / hex;
    auto size = fs::file_size(dir / "rootfs.erofs", ec);
    if (!ec) out.reclaimed += size;
    fs::remove_all(dir, ec);
    if (ec)
      return make_error(errc::io, fmt::format("cannot remove {}: {}", dir.string(), ec.message()));
  }
  auto store = content_store::open(data_root / "content");
  if (!store) return store.error();
  if (plan.all_blobs) {
    auto all = store->list();
    if (!all) return all.error();
    plan.candidates = std::move(*all);
  }
  std::set<std::string> done;
  for (const auto& d : plan.candidates) {
    if (plan.referenced.count(d) || !done.insert(d).second) continue;
    auto path = store->path_of(d);
    if (!path) continue;
    struct stat st {};
    if (::stat(path->c_str(), &st) != 0) continue;
    int64_t mtime = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (leases.protects(d, mtime)) continue;
    if (auto ok = store->remove(d); ok) {
      out.deleted.push_back(d);
      out.reclaimed += static_cast<uint64_t>(st.st_size);
    } else if (code_of(ok.error()) != errc::not_found) {
      return ok.error();
    }
  }
  return out;
}

}  // namespace

// Runs `plan` on a worker, adds its result to `so_far` and delivers it.
void run_sweep(self_ptr self, sweep_plan plan, api::removed so_far,
               caf::typed_response_promise<api::removed> rp) {
  auto& st = self->state;
  ++st.gc_running;
  run_job(self, [root = st.opts.data_root, leases = st.leases,
                 plan = std::move(plan)] { return sweep(root, *leases, plan); })
      .then(
          [self, so_far, rp](api::removed& r) mutable {
            auto out = so_far;
            out.deleted.insert(out.deleted.end(), r.deleted.begin(), r.deleted.end());
            out.reclaimed += r.reclaimed;
            auto& st = self->state;
            if (--st.gc_running == 0) {
              for (auto id : st.leases_to_close) st.leases->close(id);
              st.leases_to_close.clear();
            }
            images_log.info("removed {} images and blobs, {} bytes reclaimed", out.deleted.size(),
                            out.reclaimed);
            rp.deliver(std::move(out));
          },
          [self, rp](caf::error& err) mutable {
            auto& st = self->state;
            if (--st.gc_running == 0) {
              for (auto id : st.leases_to_close) st.leases->close(id);
              st.leases_to_close.clear();
            }
            rp.deliver(std::move(err));
          });
}

// Removes the record of `rec` (which must have no tags left) and plans its deletion.
void drop_image(self_ptr self, const std::string& id, api::removed& out, sweep_plan& plan) {
  auto& st = self->state;
  auto i = st.images.find(id);
  if (i == st.images.end()) return;
  auto& rec = i->second;
  plan.image_dirs.push_back(hex_of(rec.id));
  plan.candidates.push_back(rec.id);
  if (!rec.manifest_digest.empty()) plan.candidates.push_back(rec.manifest_digest);
  if (!rec.index_digest.empty()) plan.candidates.push_back(rec.index_digest);
  plan.candidates.insert(plan.candidates.end(), rec.layers.begin(), rec.layers.end());
  out.deleted.push_back(rec.id);
  images_log.info("image={} deleted", short_of(rec.id));
  st.images.erase(i);
  erase(self, id);
}

}  // namespace berth::image::detail
