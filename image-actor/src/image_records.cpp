// image_records.cpp: image records: lookups by id, digest and tag, tags, the store's copies.
#include "images_state.hpp"

#include <algorithm>

namespace berth::image::detail {

std::string hex_of(const std::string& digest) {
  return digest.rfind("sha256:", 0) == 0 ? digest.substr(7) : digest;
}

std::string short_of(const std::string& digest) {
  return hex_of(digest).substr(0, 12);
}

api::image_info to_info(const image_record& rec) {
  api::image_info info;
  info.id = rec.id;
  for (auto& t : rec.tags) {
    auto ref = parse_reference(t);
    info.tags.push_back(ref ? ref->familiar() : t);
  }
  info.manifest_digest = rec.manifest_digest;
  info.os = rec.os;
  info.architecture = rec.architecture;
  info.size = rec.size;
  info.disk_size = rec.disk_size;
  info.created = rec.created;
  return info;
}

// The record of a resolved image (without tags, disk or times).
image_record record_of(const resolved_image& r) {
  image_record rec;
  rec.id = r.config_digest;
  rec.manifest_digest = r.manifest.digest;
  rec.os = r.config.os;
  rec.architecture = r.config.architecture;
  for (auto& l : r.layers) {
    rec.layers.push_back(l.digest);
    rec.layer_types.push_back(l.media_type);
  }
  rec.size = r.layers_size;
  rec.created = r.config.created;
  rec.entrypoint = r.config.entrypoint;
  rec.cmd = r.config.cmd;
  rec.env = r.config.env;
  rec.workdir = r.config.working_dir;
  rec.user = r.config.user;
  rec.stop_signal = r.config.stop_signal;
  rec.exposed_ports = r.config.exposed_ports;
  rec.volumes = r.config.volumes;
  rec.labels = r.config.labels;
  auto& h = r.config.healthcheck;
  rec.healthcheck = api::healthcheck{h.test, h.interval, h.timeout, h.start_period, h.retries};
  return rec;
}

caf::expected<found_image> lookup(images_state& st, const std::string& text) {
  // An id or id prefix first ("sha256:ab12..." or "ab12..."), as Docker does.
  auto hex = hex_of(text);
  bool hexish = hex.size() >= 4 && hex.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (hexish) {
    image_record* found = nullptr;
    for (auto& [id, rec] : st.images)
      if (hex_of(id).compare(0, hex.size(), hex) == 0) {
        if (found) return make_error(errc::invalid_argument, "more than one image matches " + text);
        found = &rec;
      }
    if (found) return found_image{found, true, {}};
  }
  auto ref = parse_reference(text);
  if (!ref) return ref.error();
  if (!ref->digest.empty()) {
    auto repo_digest = ref->name() + "@" + ref->digest;
    for (auto& [id, rec] : st.images)
      for (auto& d : rec.repo_digests)
        if (d == repo_digest) return found_image{&rec, true, {}};
    for (auto& [id, rec] : st.images)
      if (rec.manifest_digest == ref->digest || rec.index_digest == ref->digest)
        return found_image{&rec, true, {}};
  } else {
    for (auto& [id, rec] : st.images)
      for (auto& t : rec.tags)
        if (t == ref->to_string()) return found_image{&rec, false, t};
  }
  return make_error(errc::not_found, "No such image: " + ref->familiar());
}

store_actor store_of(self_ptr self) {
  return berth::store_of(self->home_system());
}

void save(self_ptr self, const image_record& rec) {
  if (auto store = store_of(self))
    self->request(store, caf::infinite, save_atom_v, rec)
        .then([] {},
              [id = rec.id](caf::error& err) {
                images_log.error("image={} cannot save its record: {}", short_of(id),
                                 describe(err));
              });
}

void erase(self_ptr self, const std::string& id) {
  if (auto store = store_of(self))
    self->request(store, caf::infinite, erase_atom_v, image_atom_v, id)
        .then([] {},
              [id](caf::error& err) {
                images_log.error("image={} cannot erase its record: {}", short_of(id),
                                 describe(err));
              });
}

// Merges a loaded or pulled record into the state: its tags move to it from any other image;
// tags and repo digests it had stay.
image_record& merge(self_ptr self, image_record rec) {
  auto& st = self->state;
  for (auto& [id, other] : st.images) {
    if (id == rec.id) continue;
    auto before = other.tags.size();
    for (auto& t : rec.tags) std::erase(other.tags, t);
    if (other.tags.size() != before) save(self, other);
  }
  auto& current = st.images[rec.id];
  if (!current.id.empty()) {
    for (auto& t : current.tags)
      if (std::find(rec.tags.begin(), rec.tags.end(), t) == rec.tags.end()) rec.tags.push_back(t);
    for (auto& d : current.repo_digests)
      if (std::find(rec.repo_digests.begin(), rec.repo_digests.end(), d) == rec.repo_digests.end())
        rec.repo_digests.push_back(d);
    if (rec.index_digest.empty()) rec.index_digest = current.index_digest;
    rec.loaded = current.loaded;
  }
  current = std::move(rec);
  save(self, current);
  return current;
}

std::string familiar(const std::string& full) {
  auto ref = parse_reference(full);
  return ref ? ref->familiar() : full;
}

// Untags every name of `rec`, reporting them as Docker does (tags, then repo digests).
void untag_all(image_record& rec, api::removed& out) {
  for (auto& t : rec.tags) out.untagged.push_back(familiar(t));
  for (auto& d : rec.repo_digests) out.untagged.push_back(familiar(d));
  rec.tags.clear();
  rec.repo_digests.clear();
}

}  // namespace berth::image::detail
