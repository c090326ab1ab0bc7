#pragma once
// format_double: the shortest decimal text that parses back to exactly v ("0.1", "3",
// "1e-07", "nan"), for text that is read back (CSV cells, layer attributes); xml_escape.
#include <charconv>
#include <string>

namespace vaegan::detail {

inline std::string format_double(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, res.ptr);
}

// Text for XML and HTML (SVG plots, the training report): the five special characters as
// entities.
inline std::string xml_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace vaegan::detail
