// table.cpp: sizing columns to their content.
#include "table.hpp"

#include <algorithm>

namespace berth::cli {

namespace {

constexpr std::size_t padding = 3;
constexpr std::size_t min_width = 10;

}  // namespace

std::size_t text_width(const std::string& text) {
  return static_cast<std::size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

std::string format_table(const table_rows& rows) {
  std::vector<std::size_t> widths;
  for (auto& row : rows)
    for (std::size_t i = 0; i + 1 < row.size(); ++i) {
      if (widths.size() <= i) widths.resize(i + 1, 0);
      widths[i] = std::max(widths[i], text_width(row[i]));
    }
  std::string out;
  for (auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 == row.size()) break;
      auto width = std::max(widths[i] + padding, min_width);
      line.append(width - text_width(row[i]), ' ');
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace berth::cli
