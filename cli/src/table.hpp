// table: the tables of list commands, laid out as Docker's CLI lays them out (a tabwriter with
// a minimum cell width of 10 and 3 spaces of padding): each column as wide as its widest cell,
// so no value runs into the next column whatever its length.
#pragma once

#include <string>
#include <vector>

namespace berth::cli {

/// A header row and its data rows.
using table_rows = std::vector<std::vector<std::string>>;

/// The rows as lines: every column but the last padded to its widest cell plus 3 spaces (at
/// least 10 characters), widths counted in characters of UTF-8 text.
std::string format_table(const table_rows& rows);

/// Characters of UTF-8 `text` (bytes that do not continue a character).
std::size_t text_width(const std::string& text);

}  // namespace berth::cli
