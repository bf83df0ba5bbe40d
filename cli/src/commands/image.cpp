// image.cpp: the image commands (pull, push, tag, rm, prune, save, inspect, ls; load is in
// image_load.cpp) and the image table. Pull and push exit with a code per kind of failure, so
// that scripts can tell them apart (the README lists them).
#include "command.hpp"
#include "commands/common.hpp"
#include "commands/image_load.hpp"
#include "format.hpp"
#include "inspect_json.hpp"
#include "progress.hpp"
#include "reference.hpp"
#include "stream_io.hpp"

#include "berth/rpc/api.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

namespace berth::cli {

namespace {

int image_exit_code(const rpc::call_error& e) {
  switch (e.code()) {
    case errc::not_found:
      return 2;  // no such image or tag
    case errc::no_such_platform:
      return 3;  // the image exists, not for this platform
    case errc::unauthorized:
      return 4;  // authentication required or refused
    case errc::untrusted:
      return 5;  // the registry's certificate is not trusted
    case errc::protocol:
      return 6;  // digest mismatch or a malformed answer: nothing stored
    case errc::io:
      return 7;  // disk full or another write error: nothing half kept
    case errc::unavailable:
      return 8;  // the registry did not answer
    case errc::invalid_argument:
      return 9;  // a malformed reference or platform
    default:
      return 1;
  }
}

int cmd_image_pull(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  bool quiet = p.has("quiet");
  progress_view view(quiet);
  view.install(c);
  auto started = std::chrono::steady_clock::now();
  const auto& ref = p.positionals[0];
  try {
    auto img =
        c.call<api::image_info>(api::method::image_pull, api::pull_request{ref, p.get("platform")});
    // Quiet, Docker prints the full reference and nothing else, for scripts.
    if (quiet) {
      std::printf("%s\n", full_reference(ref).c_str());
      return 0;
    }
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("Digest: %s\n", img.manifest_digest.c_str());
    std::printf("%s: pulled %s (%s) in %.1fs\n",
                img.tags.empty() ? img.id.c_str() : img.tags.front().c_str(),
                short_id(img.id).c_str(), human_size(img.size).c_str(), secs);
  } catch (const rpc::call_error& e) {
    throw cli_error(image_exit_code(e), e.what());
  }
  return 0;
}

int cmd_image_push(context& ctx, const parsed& p) {
  auto& c = ctx.conn();
  progress_view view(p.has("quiet"));
  view.install(c);
  try {
    auto r = c.call<api::pushed>(api::method::image_push, api::push_request{p.positionals[0]});
    std::printf("%s: digest: %s size: %llu\n", p.positionals[0].c_str(), r.digest.c_str(),
                static_cast<unsigned long long>(r.size));
  } catch (const rpc::call_error& e) {
    throw cli_error(image_exit_code(e), e.what());
  }
  return 0;
}

int cmd_image_tag(context& ctx, const parsed& p) {
  ctx.conn().call<api::empty>(api::method::image_tag,
                              api::tag_request{p.positionals[0], p.positionals[1]});
  return 0;
}

int cmd_image_rm(context& ctx, const parsed& p) {
  return for_each_name(p.positionals, [&](const std::string& ref) {
    auto r = ctx.conn().call<api::removed>(api::method::image_remove,
                                           api::image_remove_request{ref, p.has("force")});
    for (auto& u : r.untagged) std::printf("Untagged: %s\n", u.c_str());
    for (auto& d : r.deleted) std::printf("Deleted: %s\n", d.c_str());
  });
}

int cmd_image_prune(context& ctx, const parsed& p) {
  if (!confirm(p, p.has("all") ? "WARNING! This will remove all images without at least one "
                                 "container associated to them."
                               : "WARNING! This will remove all dangling images."))
    return 0;
  return print_removed(
      ctx.conn().call<api::removed>(api::method::image_prune, api::prune_request{p.has("all")}),
      "Images");
}

int cmd_image_save(context& ctx, const parsed& p) {
  auto out_path = p.get("output");
  if (out_path.empty() && ::isatty(STDOUT_FILENO))
    throw cli_error(1, "cowardly refusing to save to a terminal. Use the -o flag or redirect");
  auto& c = ctx.conn();
  int fd = STDOUT_FILENO;
  std::string tmp;
  if (!out_path.empty()) {
    tmp = out_path + ".tmp-" + std::to_string(::getpid());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw cli_error(1, "cannot write " + out_path + ": " + std::strerror(errno));
  }
  stream_printer printer;
  printer.sink_fd = fd;
  printer.install(c);
  printer.set_stream(
      c.call<api::stream>(api::method::image_save, api::save_request{p.positionals}).stream_id);
  while (!printer.ended()) c.poll_once(std::nullopt);
  if (!out_path.empty()) {
    bool ok = printer.error().empty() && ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), out_path.c_str()) != 0) {
      ::unlink(tmp.c_str());
      throw cli_error(1, printer.error().empty() ? "cannot write " + out_path : printer.error());
    }
  } else if (!printer.error().empty()) {
    throw cli_error(1, printer.error());
  }
  return 0;
}

int cmd_image_inspect(context& ctx, const parsed& p) {
  return inspect_each(p.positionals, [&](const std::string& ref) {
    return image_json(
        ctx.conn().call<api::image_detail>(api::method::image_inspect, api::image_ref{ref}));
  });
}

int cmd_image_ls(context& ctx, const parsed& p) {
  auto list = ctx.conn().call<std::vector<api::image_info>>(api::method::image_list);
  if (print_quiet_or_json(
          p, list, [](auto& i) { return short_id(i.id); }, image_list_json))
    return 0;
  if (p.has("format")) throw cli_error(1, "unsupported --format (use json)");
  auto now = now_ns() / 1000000000;
  std::printf("%-34s%-12s%-15s%-16s%s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
  for (auto& i : list) {
    std::vector<std::pair<std::string, std::string>> names;
    for (auto& t : i.tags) {
      auto colon = t.rfind(':');
      auto slash = t.rfind('/');
      if (colon != std::string::npos && (slash == std::string::npos || colon > slash))
        names.emplace_back(t.substr(0, colon), t.substr(colon + 1));
      else
        names.emplace_back(t, "<none>");
    }
    if (names.empty()) names.emplace_back("<none>", "<none>");
    auto created = i.created > 0 ? human_duration(now - i.created) + " ago" : "N/A";
    for (auto& [repo, tag] : names)
      std::printf("%-34s%-12s%-15s%-16s%s\n", repo.c_str(), tag.c_str(), short_id(i.id).c_str(),
                  created.c_str(), human_size(i.disk_size ? i.disk_size : i.size).c_str());
  }
  return 0;
}

const flag quiet_flag{"quiet", 'q', false, "", "Suppress progress"};

}  // namespace

std::vector<command> image_commands() {
  constexpr auto any = SIZE_MAX;
  return {
      load_command(),
      {"ls",
       "[OPTIONS]",
       "List images",
       {{"quiet", 'q', false, "", "Only show image IDs"},
        {"format", 0, true, "json", "Print as JSON"}},
       false,
       0,
       0,
       cmd_image_ls},
      {"pull",
       "[OPTIONS] NAME[:TAG|@DIGEST]",
       "Download an image from a registry",
       {{"platform", 0, true, "OS/ARCH", "Platform to pull (default linux/amd64)"},
        {"quiet", 'q', false, "", "Suppress progress; print only the image's full reference"}},
       false,
       1,
       1,
       cmd_image_pull},
      {"push",
       "[OPTIONS] NAME[:TAG]",
       "Upload an image to a registry",
       {quiet_flag},
       false,
       1,
       1,
       cmd_image_push},
      {"tag",
       "SOURCE TARGET",
       "Create a tag TARGET that refers to SOURCE",
       {},
       false,
       2,
       2,
       cmd_image_tag},
      {"rm",
       "[OPTIONS] IMAGE [IMAGE...]",
       "Remove one or more images",
       {{"force", 'f', false, "",
         "Remove even if tagged more than once or used by stopped containers"}},
       false,
       1,
       any,
       cmd_image_rm},
      {"prune",
       "[OPTIONS]",
       "Remove unused images",
       {{"all", 'a', false, "", "Remove all unused images, not just untagged ones"},
        {"force", 'f', false, "", "Do not prompt for confirmation"}},
       false,
       0,
       0,
       cmd_image_prune},
      {"save",
       "[OPTIONS] IMAGE [IMAGE...]",
       "Save images to an OCI archive",
       {{"output", 'o', true, "FILE", "Write to FILE instead of stdout"}},
       false,
       1,
       any,
       cmd_image_save},
      {"inspect",
       "IMAGE [IMAGE...]",
       "Display detailed information on images",
       {},
       false,
       1,
       any,
       cmd_image_inspect},
  };
}

}  // namespace berth::cli
