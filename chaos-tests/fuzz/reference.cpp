// reference: fuzzes the parser of image references as people type them (`berth pull`, `run`,
// `tag`, `image.*` RPC arguments), which decides what registry berthd talks to.
//
// Checked: no crash, leak or undefined behaviour, and no exception; an accepted reference is
// normalized (a domain, a path, a valid tag or digest, at least one of the two, a repository
// name of at most 255 characters); its full form and its familiar form parse back to the same
// reference, and so does its familiar name alone (unless it looks like an image id); is_tag
// agrees with the tags the parser accepts.
#include "berth/image/reference.hpp"
#include "berth/image/digest.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace image = berth::image;

void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "reference: invariant broken: %s\n", what);
    std::abort();
  }
}

void check(const image::reference& r) {
  require(!r.domain.empty() && !r.path.empty(), "a reference without domain or path");
  require(!r.tag.empty() || !r.digest.empty(), "a reference with neither tag nor digest");
  require(r.tag.empty() || image::is_tag(r.tag), "a reference with an invalid tag");
  require(r.digest.empty() || image::is_digest(r.digest), "a reference with an invalid digest");
  require(r.name().size() <= 255, "a repository name longer than 255 characters");
  require(r.domain != "index.docker.io", "docker.io is not normalized");
  require(r.domain != image::default_domain || r.path.find('/') != std::string::npos,
          "an official image without library/");
  for (auto text : {r.to_string(), r.familiar()}) {
    auto again = image::parse_reference(text);
    require(static_cast<bool>(again), "a normalized reference does not parse");
    require(*again == r, "a normalized reference parses to another reference");
  }
  // The familiar name alone parses to the same repository, unless it is 64 hex digits: those
  // name an image id when they stand alone (as in Docker).
  auto name = r.familiar_name();
  auto by_name = image::parse_reference(name);
  bool id_like =
      name.size() == 64 && name.find_first_not_of("0123456789abcdef") == std::string::npos;
  require(id_like || (by_name && by_name->name() == r.name()),
          "the familiar name names another repository");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return -1;
  std::string_view text{reinterpret_cast<const char*>(data), size};
  if (auto r = image::parse_reference(text)) check(*r);
  if (image::is_tag(text)) {
    auto r = image::parse_reference("busybox:" + std::string{text});
    require(r && r->tag == text, "a valid tag is refused in a reference");
  }
  return 0;
}
