// args.cpp: the flag parser and help formatting.
#include "args.hpp"

namespace berth::cli {

namespace {

const flag* find_long(const std::vector<flag>& flags, const std::string& name) {
  for (auto& f : flags)
    if (f.name == name) return &f;
  return nullptr;
}

const flag* find_short(const std::vector<flag>& flags, char c) {
  for (auto& f : flags)
    if (f.short_name == c) return &f;
  return nullptr;
}

}  // namespace

parsed parse(const std::vector<flag>& flags, const std::vector<std::string>& args,
             bool stop_at_positional) {
  parsed out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    if (a == "--") {
      out.positionals.insert(out.positionals.end(), args.begin() + static_cast<long>(i) + 1,
                             args.end());
      break;
    }
    if (a.size() > 2 && a.compare(0, 2, "--") == 0) {
      auto eq = a.find('=');
      auto name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      auto* f = find_long(flags, name);
      if (!f) throw usage_error("unknown flag: --" + name);
      if (!f->takes_value) {
        if (eq != std::string::npos) {
          auto v = a.substr(eq + 1);
          if (v == "false") continue;
          if (v != "true") throw usage_error("flag --" + name + " takes no value");
        }
        out.values[f->name];
        continue;
      }
      if (eq != std::string::npos)
        out.values[f->name].push_back(a.substr(eq + 1));
      else if (i + 1 < args.size())
        out.values[f->name].push_back(args[++i]);
      else
        throw usage_error("flag needs an argument: --" + name);
      continue;
    }
    if (a.size() > 1 && a[0] == '-') {
      for (std::size_t j = 1; j < a.size(); ++j) {
        auto* f = find_short(flags, a[j]);
        if (!f) throw usage_error(std::string("unknown shorthand flag: '") + a[j] + "' in " + a);
        if (!f->takes_value) {
          out.values[f->name];
          continue;
        }
        if (j + 1 < a.size())
          out.values[f->name].push_back(a.substr(j + 1));
        else if (i + 1 < args.size())
          out.values[f->name].push_back(args[++i]);
        else
          throw usage_error(std::string("flag needs an argument: '") + a[j] + "' in " + a);
        break;
      }
      continue;
    }
    if (stop_at_positional) {
      out.positionals.insert(out.positionals.end(), args.begin() + static_cast<long>(i),
                             args.end());
      break;
    }
    out.positionals.push_back(a);
  }
  return out;
}

std::string describe_flags(const std::vector<flag>& flags) {
  std::string out = "Options:\n";
  for (auto& f : flags) {
    std::string left = "  ";
    left += f.short_name ? std::string("-") + f.short_name + ", " : "    ";
    left += "--" + f.name;
    if (f.takes_value) left += " " + (f.metavar.empty() ? std::string("VALUE") : f.metavar);
    if (left.size() < 28)
      left.resize(28, ' ');
    else
      left += "  ";
    out += left + f.help + "\n";
  }
  return out;
}

}  // namespace berth::cli
