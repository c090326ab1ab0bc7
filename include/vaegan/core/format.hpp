#pragma once
// format_double: the shortest decimal text that parses back to exactly v ("0.1", "3",
// "1e-07", "nan"), for text that is read back (CSV cells, layer attributes).
#include <charconv>
#include <string>

namespace vaegan::detail {

inline std::string format_double(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

}  // namespace vaegan::detail
