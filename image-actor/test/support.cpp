// support.cpp: test helpers; tars are written with libarchive, never by hand.
#include "support.hpp"

#include "berth/image/digest.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <locale.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace berth::image::test {

temp_dir::temp_dir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern =
      std::string{base != nullptr && *base != '\0' ? base : "/tmp"} + "/berth-image-test.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

run_result run(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, fds[1], 2);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int err = ::posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(fds[1]);
  run_result result;
  if (err != 0) {
    ::close(fds[0]);
    result.output = "cannot run " + argv[0];
    return result;
  }
  char buf[4096];
  for (;;) {
    auto n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.output.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

bool have_program(std::string_view program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/bin:/bin"};
  std::string d;
  while (std::getline(dirs, d, ':'))
    if (::access((fs::path{d} / program).c_str(), X_OK) == 0) return true;
  return false;
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out{path, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void build_busybox_fixture(const fs::path& dir) {
  const char* source = BERTH_TEST_SOURCE_DIR;
  auto script = fs::path{source} / "scripts" / "fixtures" / "busybox-image.sh";
  auto result = run({"sh", script.string(), dir.string()});
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
}

tar_entry file(std::string name, std::string data, int mode) {
  tar_entry e;
  e.name = std::move(name);
  e.data = std::move(data);
  e.mode = mode;
  return e;
}

tar_entry dir(std::string name, int mode) {
  tar_entry e;
  e.name = std::move(name);
  e.kind = tar_entry::dir;
  e.mode = mode;
  return e;
}

tar_entry symlink(std::string name, std::string target) {
  tar_entry e;
  e.name = std::move(name);
  e.kind = tar_entry::symlink;
  e.link = std::move(target);
  e.mode = 0777;
  return e;
}

tar_entry hardlink(std::string name, std::string target) {
  tar_entry e;
  e.name = std::move(name);
  e.kind = tar_entry::hardlink;
  e.link = std::move(target);
  return e;
}

namespace {

la_ssize_t append_to_string(struct archive*, void* client, const void* buf, size_t size) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), size);
  return static_cast<la_ssize_t>(size);
}

}  // namespace

std::string make_tar(const std::vector<tar_entry>& entries, compression c) {
  // libarchive's pax writer converts names from the thread's locale to UTF-8; in the C locale
  // it refuses anything not ASCII. Write in C.UTF-8 on this thread only, so that the library
  // under test still reads in the process's C locale, as the daemon does.
  locale_t utf8 = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
  locale_t previous =
      utf8 != static_cast<locale_t>(0) ? ::uselocale(utf8) : static_cast<locale_t>(0);
  struct restore_locale {
    locale_t utf8, previous;
    ~restore_locale() {
      if (utf8 != static_cast<locale_t>(0)) {
        ::uselocale(previous);
        ::freelocale(utf8);
      }
    }
  } restore{utf8, previous};
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == compression::gzip)
    archive_write_add_filter_gzip(a);
  else if (c == compression::zstd)
    archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open(a, &out, nullptr, append_to_string, nullptr) != ARCHIVE_OK)
    throw std::runtime_error(archive_error_string(a));
  for (const auto& x : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, x.name.c_str());
    archive_entry_set_uid(e, x.uid);
    archive_entry_set_gid(e, x.gid);
    archive_entry_set_mtime(e, x.mtime, 0);
    int mode = x.mode;
    switch (x.kind) {
      case tar_entry::file:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(x.data.size()));
        break;
      case tar_entry::dir:
        archive_entry_set_filetype(e, AE_IFDIR);
        if (mode < 0) mode = 0755;
        break;
      case tar_entry::symlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_set_symlink(e, x.link.c_str());
        break;
      case tar_entry::hardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_hardlink(e, x.link.c_str());
        archive_entry_set_size(e, 0);
        break;
      case tar_entry::chardev:
      case tar_entry::blockdev:
        archive_entry_set_filetype(e, x.kind == tar_entry::chardev ? AE_IFCHR : AE_IFBLK);
        archive_entry_set_rdevmajor(e, x.dev_major);
        archive_entry_set_rdevminor(e, x.dev_minor);
        break;
      case tar_entry::fifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    }
    archive_entry_set_perm(e, static_cast<mode_t>(mode < 0 ? 0644 : mode));
    for (const auto& [k, v] : x.xattrs)
      archive_entry_xattr_add_entry(e, k.c_str(), v.data(), v.size());
    if (archive_write_header(a, e) != ARCHIVE_OK) throw std::runtime_error(archive_error_string(a));
    if (x.kind == tar_entry::file && !x.data.empty())
      archive_write_data(a, x.data.data(), x.data.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

layer_blob make_layer(const std::vector<tar_entry>& entries, compression c, bool docker) {
  namespace mt = media_type;
  layer_blob layer;
  auto tar = make_tar(entries);
  layer.diff_id = sha256_of(tar);
  layer.bytes = c == compression::none ? tar : make_tar(entries, c);
  switch (c) {
    case compression::none:
      layer.media_type = docker ? mt::docker_layer : mt::oci_layer;
      break;
    case compression::gzip:
      layer.media_type = docker ? mt::docker_layer_gzip : mt::oci_layer_gzip;
      break;
    case compression::zstd:
      layer.media_type = docker ? mt::docker_layer_zstd : mt::oci_layer_zstd;
      break;
  }
  return layer;
}

layout_builder::layout_builder(fs::path dir) : dir_(std::move(dir)) {
  fs::create_directories(dir_ / "blobs" / "sha256");
}

descriptor layout_builder::add_blob(std::string_view bytes, std::string_view media_type) {
  descriptor d;
  d.media_type = std::string{media_type};
  d.digest = sha256_of(bytes);
  d.size = bytes.size();
  write_file(dir_ / "blobs" / "sha256" / std::string{digest_hex(d.digest)}, bytes);
  return d;
}

nlohmann::json to_json(const descriptor& d) {
  nlohmann::json j{{"mediaType", d.media_type}, {"digest", d.digest}, {"size", d.size}};
  if (!d.annotations.empty()) j["annotations"] = d.annotations;
  if (d.platform) {
    j["platform"] = {{"os", d.platform->os}, {"architecture", d.platform->architecture}};
    if (!d.platform->variant.empty()) j["platform"]["variant"] = d.platform->variant;
  }
  return j;
}

descriptor layout_builder::add_image(const std::vector<layer_blob>& layers, const platform& p,
                                     bool docker, const nlohmann::json& config_extra) {
  namespace mt = media_type;
  nlohmann::json config{{"os", p.os},
                        {"architecture", p.architecture},
                        {"created", "2024-01-01T00:00:00Z"},
                        {"config", {{"Cmd", {"sh"}}}},
                        {"rootfs", {{"type", "layers"}, {"diff_ids", nlohmann::json::array()}}}};
  if (!p.variant.empty()) config["variant"] = p.variant;
  nlohmann::json layer_list = nlohmann::json::array();
  for (const auto& layer : layers) {
    config["rootfs"]["diff_ids"].push_back(layer.diff_id);
    layer_list.push_back(to_json(add_blob(layer.bytes, layer.media_type)));
  }
  if (!config_extra.is_null()) config.merge_patch(config_extra);
  auto config_desc = add_blob(config.dump(), docker ? mt::docker_config : mt::oci_config);
  auto manifest_type = docker ? mt::docker_manifest : mt::oci_manifest;
  nlohmann::json manifest{{"schemaVersion", 2},
                          {"mediaType", manifest_type},
                          {"config", to_json(config_desc)},
                          {"layers", layer_list}};
  auto d = add_blob(manifest.dump(), manifest_type);
  d.platform = p;
  return d;
}

descriptor layout_builder::add_index(const std::vector<descriptor>& manifests, bool docker) {
  auto type = docker ? media_type::docker_manifest_list : media_type::oci_index;
  nlohmann::json index{
      {"schemaVersion", 2}, {"mediaType", type}, {"manifests", nlohmann::json::array()}};
  for (const auto& m : manifests) index["manifests"].push_back(to_json(m));
  return add_blob(index.dump(), type);
}

void layout_builder::finish(const std::vector<descriptor>& entries,
                            std::string_view layout_version) {
  nlohmann::json index{{"schemaVersion", 2},
                       {"mediaType", media_type::oci_index},
                       {"manifests", nlohmann::json::array()}};
  for (const auto& d : entries) index["manifests"].push_back(to_json(d));
  write_file(dir_ / "index.json", index.dump());
  write_file(dir_ / "oci-layout", nlohmann::json{{"imageLayoutVersion", layout_version}}.dump());
}

std::string tar_of_dir(const fs::path& dir) {
  std::vector<tar_entry> entries;
  std::vector<fs::path> paths;
  for (const auto& e : fs::recursive_directory_iterator(dir)) paths.push_back(e.path());
  std::sort(paths.begin(), paths.end());
  for (const auto& p : paths) {
    auto rel = fs::relative(p, dir).string();
    if (fs::is_directory(p))
      entries.push_back(test::dir(rel));
    else
      entries.push_back(test::file(rel, read_file(p)));
  }
  return make_tar(entries);
}

void layout_builder::pack(const fs::path& file) const {
  write_file(file, tar_of_dir(dir_));
}

descriptor annotated(descriptor d, std::map<std::string, std::string> annotations) {
  d.annotations = std::move(annotations);
  return d;
}

}  // namespace berth::image::test
