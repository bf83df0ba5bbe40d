// copy_plan.cpp: argument splitting, lexical paths and docker cp's destination rules.
#include "copy_plan.hpp"

#include <vector>

namespace berth::cli {

cp_location split_cp_arg(const std::string& arg) {
  if (!arg.empty() && arg[0] == '/') return {"", arg};
  auto colon = arg.find(':');
  if (colon == std::string::npos || arg[0] == '.') return {"", arg};
  return {arg.substr(0, colon), arg.substr(colon + 1)};
}

std::string clean_path(const std::string& path) {
  bool rooted = !path.empty() && path[0] == '/';
  std::vector<std::string> parts;
  std::size_t pos = 0;
  while (pos <= path.size()) {
    auto slash = path.find('/', pos);
    if (slash == std::string::npos) slash = path.size();
    auto part = path.substr(pos, slash - pos);
    pos = slash + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (!parts.empty() && parts.back() != "..")
        parts.pop_back();
      else if (!rooted)
        parts.push_back(part);
      continue;
    }
    parts.push_back(std::move(part));
  }
  std::string out = rooted ? "/" : "";
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

std::string base_name(const std::string& path) {
  auto c = clean_path(path);
  if (c == "/") return c;
  auto slash = c.rfind('/');
  return slash == std::string::npos ? c : c.substr(slash + 1);
}

std::string dir_name(const std::string& path) {
  auto c = clean_path(path);
  auto slash = c.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return c.substr(0, slash);
}

std::string join_path(const std::string& dir, const std::string& name) {
  if (name.empty()) return dir;
  if (dir.empty()) return name;
  return dir.back() == '/' ? dir + name : dir + "/" + name;
}

bool ends_with_separator(const std::string& path) {
  return !path.empty() && (path.back() == '/' || path == "." ||
                           (path.size() >= 2 && path.compare(path.size() - 2, 2, "/.") == 0));
}

bool names_contents(const std::string& path) {
  auto end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  auto trimmed = path.substr(0, end);
  return trimmed == "." ||
         (trimmed.size() >= 2 && trimmed.compare(trimmed.size() - 2, 2, "/.") == 0);
}

copy_target plan_copy(const std::string& src, bool src_is_dir, const std::string& dest,
                      path_kind dest_kind) {
  auto name = base_name(src);
  bool contents = names_contents(src) || name == "/";
  if (name == "..")
    throw cp_error("cannot copy \"" + src + "\": name the directory itself, not \"..\"");
  if (!src_is_dir && (ends_with_separator(src) || contents))
    throw cp_error(src + ": not a directory");
  if (dest_kind == path_kind::file && ends_with_separator(dest))
    throw cp_error(dest + ": not a directory");
  auto as_new = [&]() -> copy_target {
    auto new_name = base_name(dest);
    if (new_name == "/" || new_name == "." || new_name == "..")
      throw cp_error("invalid destination \"" + dest + "\"");
    return {dir_name(dest), new_name};
  };
  if (!src_is_dir) {
    if (dest_kind == path_kind::dir) return {clean_path(dest), name};
    if (dest_kind == path_kind::missing && ends_with_separator(dest))
      throw cp_error("destination directory " + dest + " does not exist");
    return as_new();
  }
  if (dest_kind == path_kind::file) throw cp_error("cannot copy a directory to a file: " + dest);
  if (dest_kind == path_kind::dir) return {clean_path(dest), contents ? std::string() : name};
  return as_new();
}

void copy_budget::entry(const std::string& name, uint32_t depth) {
  if (depth > limits_.max_depth)
    throw cp_error("refusing " + name + ": it is nested more than " +
                   std::to_string(limits_.max_depth) + " levels deep (cp --max-depth)");
  if (++entries_ > limits_.max_entries)
    throw cp_error("refusing " + name + ": the copy has more than " +
                   std::to_string(limits_.max_entries) + " entries (cp --max-entries)");
}

void copy_budget::bytes(const std::string& name, uint64_t n) {
  if (n > limits_.max_bytes - bytes_)
    throw cp_error("refusing " + name + ": the copy exceeds " + std::to_string(limits_.max_bytes) +
                   " bytes (cp --max-size)");
  bytes_ += n;
}

uint32_t host_mode(uint32_t guest_mode) {
  return guest_mode & 01777;
}

}  // namespace berth::cli
