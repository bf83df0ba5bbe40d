// pullers.cpp: one puller actor per pull, restarted when it crashes, and the end of each pull.
#include "images_state.hpp"

#include <caf/event_based_actor.hpp>

namespace berth::image::detail {

namespace {

// A pull request that ended without the puller's answer (its exception, or it vanished), as
// opposed to a pull that failed and said why with a berth error.
bool puller_crashed(const caf::error& err) {
  return err && err.category() != caf::atom("berth");
}

void finish_pull(self_ptr self, const std::string& key, caf::expected<image_record> result) {
  auto& st = self->state;
  auto i = st.pulls.find(key);
  if (i == st.pulls.end()) return;
  auto job = std::move(i->second);
  st.pulls.erase(i);
  job.shared->clear();
  if (!result) {
    images_log.warn("pull of {} failed: {}", job.ref.to_string(), describe(result.error()));
    for (auto& rp : job.promises) rp.deliver(result.error());
    close_lease(self, job.lease);
    return;
  }
  auto& rec = merge(self, std::move(*result));
  auto info = to_info(rec);
  for (auto& rp : job.promises) rp.deliver(info);
  close_lease(self, job.lease);
}

}  // namespace

void start_puller(self_ptr self, const std::string& key) {
  auto& st = self->state;
  auto& job = st.pulls.at(key);
  ++job.starts;
  if (job.lease == 0) job.lease = st.leases->open();
  auto fn = [opts = st.opts, ref = job.ref, want = job.want, shared = job.shared,
             leases = st.leases,
             lease = job.lease] { return pull_and_build(opts, ref, want, shared, leases, lease); };
  // The puller: a worker of its own whose exceptions keep their text in its exit reason.
  auto puller = self->spawn<caf::detached>([fn](caf::event_based_actor* w) -> caf::behavior {
    w->set_exception_handler([](caf::scheduled_actor*, std::exception_ptr& e) -> caf::error {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& x) {
        return caf::make_error(caf::sec::runtime_error, std::string{x.what()});
      } catch (...) {
        return caf::make_error(caf::sec::runtime_error, std::string{"unknown exception"});
      }
    });
    return {
        [w, fn](go_atom) -> caf::result<image_record> {
          auto r = fn();
          w->quit();
          if (!r) return std::move(r.error());
          return std::move(*r);
        },
    };
  });
  images_log.info("pull of {} for {} started{}", job.ref.to_string(), job.want.to_string(),
                  job.starts > 1 ? fmt::format(" again (restart {})", job.starts - 1) : "");
  self->request(puller, caf::infinite, go_atom_v)
      .then([self, key](image_record& rec) { finish_pull(self, key, std::move(rec)); },
            [self, key](caf::error& err) {
              auto& st = self->state;
              auto i = st.pulls.find(key);
              if (i == st.pulls.end()) return;
              if (puller_crashed(err) && i->second.starts <= st.opts.max_pull_restarts &&
                  !i->second.shared->cancel.load()) {
                images_log.warn("puller of {} crashed ({}); restarting it", key, describe(err));
                start_puller(self, key);
                return;
              }
              if (puller_crashed(err))
                err = make_error(errc::internal, fmt::format("the pull crashed {} times; last: {}",
                                                             i->second.starts, describe(err)));
              finish_pull(self, key, std::move(err));
            });
}

}  // namespace berth::image::detail
