// reference.cpp: the distribution reference grammar and Docker's normalization.
#include "berth/image/reference.hpp"

#include "berth/image/digest.hpp"
#include "util.hpp"

#include <algorithm>

namespace berth::image {

namespace {

constexpr size_t max_name_length = 255;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool is_alnum(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}
bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// path-component := alnum+ (separator alnum+)*, separator := [._] | "__" | "-"+.
bool is_path_component(std::string_view s) {
  size_t i = 0;
  auto alnum_run = [&] {
    size_t start = i;
    while (i < s.size() && is_lower_alnum(s[i])) ++i;
    return i > start;
  };
  if (!alnum_run()) return false;
  while (i < s.size()) {
    if (s[i] == '.')
      ++i;
    else if (s[i] == '_')
      i += (i + 1 < s.size() && s[i + 1] == '_') ? 2 : 1;
    else if (s[i] == '-')
      while (i < s.size() && s[i] == '-') ++i;
    else
      return false;
    if (!alnum_run()) return false;
  }
  return true;
}

// domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9].
bool is_domain_component(std::string_view s) {
  if (s.empty() || !is_alnum(s.front()) || !is_alnum(s.back())) return false;
  for (char c : s)
    if (!is_alnum(c) && c != '-') return false;
  return true;
}

// domain := host [":" port], host := domain-name | "[" IPv6 "]".
bool is_domain(std::string_view s) {
  std::string_view host = s;
  std::string_view port;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos || close < 3) return false;
    for (char c : s.substr(1, close - 1))
      if (!is_hex(c) && !(c >= 'A' && c <= 'F') && c != ':') return false;
    host = {};
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port = rest.substr(1);
      if (port.empty()) return false;
    }
  } else {
    auto colon = s.find(':');
    if (colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    size_t start = 0;
    for (;;) {
      auto dot = host.find('.', start);
      if (!is_domain_component(host.substr(start, dot - start))) return false;
      if (dot == std::string_view::npos) break;
      start = dot + 1;
    }
  }
  for (char c : port)
    if (c < '0' || c > '9') return false;
  return true;
}

bool has_upper(std::string_view s) {
  for (char c : s)
    if (c >= 'A' && c <= 'Z') return true;
  return false;
}

}  // namespace

bool is_tag(std::string_view text) {
  if (text.empty() || text.size() > 128) return false;
  auto word = [](char c) { return is_alnum(c) || c == '_'; };
  if (!word(text.front())) return false;
  for (char c : text)
    if (!word(c) && c != '.' && c != '-') return false;
  return true;
}

caf::expected<reference> parse_reference(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return detail::invalid("invalid reference '{}': {}", text.substr(0, 300), why);
  };
  if (text.empty()) return bad("it is empty");
  if (text.size() == 64 && std::all_of(text.begin(), text.end(), is_hex))
    return bad("a 64-character hex string is an image id, not a repository name");
  reference ref;
  std::string_view rest = text;
  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto digest = rest.substr(at + 1);
    if (auto ok = check_digest(digest); !ok)
      return detail::with_context(ok.error(),
                                  fmt::format("invalid reference '{}'", text.substr(0, 300)));
    ref.digest = std::string{digest};
    rest = rest.substr(0, at);
  }
  auto last_colon = rest.rfind(':');
  auto last_slash = rest.rfind('/');
  if (last_colon != std::string_view::npos &&
      (last_slash == std::string_view::npos || last_colon > last_slash)) {
    auto tag = rest.substr(last_colon + 1);
    if (!is_tag(tag)) return bad("the tag must match [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");
    ref.tag = std::string{tag};
    rest = rest.substr(0, last_colon);
  }
  if (rest.empty()) return bad("the repository name is empty");
  // Docker's rule: the first component is a registry if it has a '.' or ':', is "localhost",
  // or has an uppercase letter; otherwise the name is on Docker Hub.
  std::string_view remote = rest;
  auto slash = rest.find('/');
  if (slash != std::string_view::npos) {
    auto first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost" ||
        has_upper(first)) {
      if (!is_domain(first)) return bad(fmt::format("'{}' is not a valid registry host", first));
      ref.domain = std::string{first};
      remote = rest.substr(slash + 1);
    }
  }
  if (ref.domain.empty() || ref.domain == "index.docker.io") ref.domain = default_domain;
  if (remote.empty()) return bad("the repository path is empty");
  if (has_upper(remote)) return bad("the repository name must be lowercase");
  size_t start = 0;
  for (;;) {
    auto end = remote.find('/', start);
    if (!is_path_component(remote.substr(start, end - start)))
      return bad(
          "each path component must be lowercase letters and digits, separated by "
          "'.', '_', '__' or dashes");
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  ref.path = std::string{remote};
  if (ref.domain == default_domain && ref.path.find('/') == std::string::npos)
    ref.path = "library/" + ref.path;
  if (ref.name().size() > max_name_length)
    return bad(fmt::format("the repository name is longer than {} characters", max_name_length));
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = default_tag;
  return ref;
}

std::string reference::name() const {
  return domain + "/" + path;
}

std::string reference::to_string() const {
  auto out = name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

std::string reference::familiar_name() const {
  if (domain != default_domain) return name();
  constexpr std::string_view library = "library/";
  if (path.compare(0, library.size(), library) == 0 &&
      path.find('/', library.size()) == std::string::npos)
    return path.substr(library.size());
  // docker.io/example.com/app without its domain would read as the registry example.com.
  auto slash = path.find('/');
  if (slash != std::string::npos) {
    std::string_view first{path.data(), slash};
    if (first.find('.') != std::string_view::npos || first == "localhost") return name();
  }
  return path;
}

std::string reference::familiar() const {
  auto out = familiar_name();
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

}  // namespace berth::image
