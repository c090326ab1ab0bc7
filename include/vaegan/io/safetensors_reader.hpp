#pragma once
// SafetensorsReader: reads and validates a .safetensors file (a state dict written by
// PyTorch's safetensors, by export_safetensors, or by anyone) and hands out its tensors by
// name as float or double.
//
// The format: an 8-byte little-endian header length N, N bytes of JSON header (an object:
// per tensor {"dtype", "shape", "data_offsets": [begin, end]} relative to the byte buffer,
// and an optional "__metadata__" object of strings), then the byte buffer.
//
// Nothing is trusted before it is checked, in this order: the file's size against the load
// limit (before reading it), N against the file's size and against 100 MB (safetensors' own
// limit), the header as strict JSON of exactly that shape (one entry per name, integers
// without signs, fractions or leading zeros, nesting no deeper than the format's), each
// tensor's dtype (F32 and F64 are read; the other safetensors dtypes are named in the
// refusal, with the conversion to make), its shape's element count against its offsets
// (overflow-checked), and the offsets: inside the buffer, no two tensors overlapping, and
// together covering the whole buffer with no gap (as the reference implementation
// requires). Only then is anything read from the buffer. Every failure is an IoError that
// names the file and, where there is one, the tensor.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/io/atomic_file.hpp"

namespace vaegan {

namespace safetensors_format {
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;                   // the reference implementation's limit
constexpr std::uint64_t kDefaultMaxFileBytes = std::uint64_t{16} << 30;  // as checkpoints
}  // namespace safetensors_format

// One tensor's entry in the header.
struct SafetensorsTensorInfo {
  std::string dtype;                 // "F32", "F64" (the others are refused when read)
  std::vector<std::int64_t> shape;   // [] for a scalar
  std::uint64_t begin = 0, end = 0;  // byte offsets into the buffer
  std::int64_t numel() const {
    std::int64_t n = 1;
    for (const std::int64_t d : shape) n *= d;
    return n;
  }
};

namespace detail {

// A strict parser for the safetensors header: the JSON subset the format uses, and no more.
class SafetensorsHeaderParser {
 public:
  SafetensorsHeaderParser(const char* text, std::size_t size, std::string where)
      : begin_(text), p_(text), end_(text + size), where_(std::move(where)) {}

  void parse(std::map<std::string, SafetensorsTensorInfo>& tensors, std::map<std::string, std::string>& metadata) {
    skip_space();
    expect('{');
    skip_space();
    if (peek() != '}') {
      for (;;) {
        skip_space();
        const std::string name = string_value();
        skip_space();
        expect(':');
        skip_space();
        if (name == "__metadata__") {
          if (seen_metadata_) fail("the header has two \"__metadata__\" entries");
          seen_metadata_ = true;
          metadata_object(metadata);
        } else {
          if (tensors.count(name)) fail("the header names tensor '" + name + "' twice");
          tensors[name] = tensor_object(name);
        }
        skip_space();
        if (peek() == ',') {
          ++p_;
          continue;
        }
        break;
      }
    }
    expect('}');
    // Padding: the header may end in spaces (the writers pad it to a multiple of 8).
    while (p_ < end_ && *p_ == ' ') ++p_;
    if (p_ != end_) fail("the header has bytes after its JSON object");
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw IoError(where_ + ": " + what + " (not a valid safetensors file, or a damaged one)");
  }
  char peek() const { return p_ < end_ ? *p_ : '\0'; }
  void expect(char c) {
    if (p_ >= end_ || *p_ != c)
      fail(std::string("bad header JSON at byte ") + std::to_string(offset()) + ": expected '" + c + "'");
    ++p_;
  }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }
  void skip_space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  std::string string_value() {
    expect('"');
    std::string out;
    for (;;) {
      if (p_ >= end_) fail("the header ends inside a string");
      const auto c = static_cast<unsigned char>(*p_++);
      if (c == '"') return out;
      if (c < 0x20) fail("a control character inside a header string");
      if (c != '\\') {
        out += static_cast<char>(c);
        continue;
      }
      if (p_ >= end_) fail("the header ends inside an escape");
      const char e = *p_++;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': append_utf8(out, code_point()); break;
        default: fail(std::string("an unknown escape '\\") + e + "' in a header string");
      }
    }
  }
  unsigned hex4() {
    if (end_ - p_ < 4) fail("the header ends inside a \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = *p_++;
      v <<= 4;
      if (c >= '0' && c <= '9') v |= static_cast<unsigned>(c - '0');
      else if (c >= 'a' && c <= 'f') v |= static_cast<unsigned>(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= static_cast<unsigned>(c - 'A' + 10);
      else fail("a bad hex digit in a \\u escape");
    }
    return v;
  }
  unsigned code_point() {
    const unsigned hi = hex4();
    if (hi >= 0xDC00 && hi <= 0xDFFF) fail("a lone low surrogate in a \\u escape");
    if (hi < 0xD800 || hi > 0xDBFF) return hi;
    if (end_ - p_ < 2 || p_[0] != '\\' || p_[1] != 'u') fail("a high surrogate without its low half");
    p_ += 2;
    const unsigned lo = hex4();
    if (lo < 0xDC00 || lo > 0xDFFF) fail("a high surrogate without its low half");
    return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
  }
  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  // A non-negative integer below 2^63: digits only, no leading zeros.
  std::uint64_t integer(const std::string& what) {
    if (p_ >= end_ || *p_ < '0' || *p_ > '9') fail(what + " must be a non-negative integer");
    if (*p_ == '0' && end_ - p_ > 1 && p_[1] >= '0' && p_[1] <= '9') fail(what + " has a leading zero");
    std::uint64_t v = 0;
    while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
      const auto digit = static_cast<std::uint64_t>(*p_++ - '0');
      if (v > (std::uint64_t{1} << 62) / 5) fail(what + " is too large");  // v * 10 + digit < 2^63
      v = v * 10 + digit;
    }
    if (p_ < end_ && (*p_ == '.' || *p_ == 'e' || *p_ == 'E')) fail(what + " must be an integer");
    return v;
  }
  std::vector<std::uint64_t> integer_array(const std::string& what) {
    std::vector<std::uint64_t> out;
    expect('[');
    skip_space();
    if (peek() == ']') {
      ++p_;
      return out;
    }
    for (;;) {
      skip_space();
      out.push_back(integer(what));
      if (out.size() > 64) fail(what + " has more than 64 entries");
      skip_space();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      expect(']');
      return out;
    }
  }

  void metadata_object(std::map<std::string, std::string>& metadata) {
    expect('{');
    skip_space();
    if (peek() == '}') {
      ++p_;
      return;
    }
    for (;;) {
      skip_space();
      const std::string key = string_value();
      skip_space();
      expect(':');
      skip_space();
      if (peek() != '"')
        fail("\"__metadata__\" entry '" + key + "' is not a string (safetensors metadata maps strings to strings)");
      std::string value = string_value();
      if (!metadata.emplace(key, std::move(value)).second) fail("\"__metadata__\" has key '" + key + "' twice");
      skip_space();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      expect('}');
      return;
    }
  }

  SafetensorsTensorInfo tensor_object(const std::string& name) {
    SafetensorsTensorInfo t;
    bool dtype = false, shape = false, offsets = false;
    expect('{');
    for (;;) {
      skip_space();
      const std::string key = string_value();
      skip_space();
      expect(':');
      skip_space();
      const std::string what = "tensor '" + name + "': \"" + key + "\"";
      if (key == "dtype" && !dtype) {
        if (peek() != '"') fail(what + " is not a string");
        t.dtype = string_value();
        dtype = true;
      } else if (key == "shape" && !shape) {
        for (const std::uint64_t d : integer_array(what)) t.shape.push_back(static_cast<std::int64_t>(d));
        shape = true;
      } else if (key == "data_offsets" && !offsets) {
        const std::vector<std::uint64_t> o = integer_array(what);
        if (o.size() != 2) fail(what + " must be [begin, end]");
        t.begin = o[0];
        t.end = o[1];
        offsets = true;
      } else if (key == "dtype" || key == "shape" || key == "data_offsets") {
        fail(what + " appears twice");
      } else {
        fail("tensor '" + name + "' has an unknown field \"" + key + "\" (expected dtype, shape, data_offsets)");
      }
      skip_space();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      expect('}');
      break;
    }
    if (!dtype || !shape || !offsets) fail("tensor '" + name + "' lacks one of dtype, shape and data_offsets");
    return t;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::string where_;
  bool seen_metadata_ = false;
};

// Bytes per element of a safetensors dtype; 0 for a name the format does not have.
inline std::uint64_t safetensors_dtype_bytes(const std::string& dtype) {
  static const std::pair<const char*, std::uint64_t> kinds[] = {
      {"F64", 8}, {"F32", 4}, {"F16", 2}, {"BF16", 2}, {"I64", 8},  {"I32", 4},     {"I16", 2},    {"I8", 1},
      {"U64", 8}, {"U32", 4}, {"U16", 2}, {"U8", 1},   {"BOOL", 1}, {"F8_E5M2", 1}, {"F8_E4M3", 1}};
  for (const auto& [name, bytes] : kinds)
    if (dtype == name) return bytes;
  return 0;
}

inline std::uint64_t get_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace detail

class SafetensorsReader {
 public:
  // Reads and validates the whole file; throws IoError if anything is wrong with it.
  explicit SafetensorsReader(std::string path, std::uint64_t max_bytes = safetensors_format::kDefaultMaxFileBytes)
      : label_(std::move(path)) {
    load_file(max_bytes);
    parse();
  }
  // Validates a file already in memory; `label` stands for the path in messages.
  static SafetensorsReader from_bytes(std::vector<std::uint8_t> bytes, std::string label = "<memory>") {
    return SafetensorsReader(std::move(bytes), std::move(label));
  }

  const std::string& path() const { return label_; }
  const std::map<std::string, SafetensorsTensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  bool has(const std::string& name) const { return tensors_.count(name) > 0; }
  const SafetensorsTensorInfo& info(const std::string& name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) fail("has no tensor '" + name + "'");
    return it->second;
  }

  // Throws unless tensor `name` is F32 or F64 (naming the dtype it has and what to do).
  void require_float(const std::string& name) const {
    const std::string& dtype = info(name).dtype;
    if (dtype == "F32" || dtype == "F64") return;
    fail("tensor '" + name + "' is " + dtype +
         "; vaegan reads F32 and F64 (convert first, e.g. in PyTorch: {k: v.float() for k, v in state.items()})");
  }
  // Tensor `name`'s values as T, row-major (F32 or F64 on disk).
  template <class T>
  void copy_values(const std::string& name, T* out) const {
    static_assert(std::is_floating_point_v<T>, "copy_values reads into float or double");
    require_float(name);
    const SafetensorsTensorInfo& t = info(name);
    const std::uint8_t* p = buf_.data() + data_start_ + t.begin;
    const std::int64_t n = t.numel();
    if (t.dtype == "F32") {
      for (std::int64_t i = 0; i < n; ++i) {
        std::uint32_t bits = 0;
        for (int b = 3; b >= 0; --b) bits = (bits << 8) | p[4 * i + b];
        float v;
        std::memcpy(&v, &bits, 4);
        out[i] = static_cast<T>(v);
      }
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        const std::uint64_t bits = detail::get_le64(p + 8 * i);
        double v;
        std::memcpy(&v, &bits, 8);
        out[i] = static_cast<T>(v);
      }
    }
  }

 private:
  SafetensorsReader(std::vector<std::uint8_t> bytes, std::string label)
      : label_(std::move(label)), buf_(std::move(bytes)) {
    parse();
  }
  [[noreturn]] void fail(const std::string& what) const { throw IoError("safetensors file '" + label_ + "' " + what); }
  [[noreturn]] void corrupt(const std::string& what) const {
    throw IoError("safetensors file '" + label_ + "': " + what + " (not a valid safetensors file, or a damaged one)");
  }

  void load_file(std::uint64_t max_bytes) {
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(label_, ec);
    if (ec) fail("cannot be opened: " + ec.message() + " (check the path)");
    if (size > max_bytes)
      fail("is " + std::to_string(size) + " bytes, more than the load limit of " + std::to_string(max_bytes) +
           " bytes (pass a larger max_bytes to SafetensorsReader if this is intended)");
    std::FILE* f = std::fopen(label_.c_str(), "rb");
    if (!f) fail("cannot be opened: " + detail::errno_message(errno));
    buf_.resize(static_cast<std::size_t>(size));
    const std::size_t got = std::fread(buf_.data(), 1, buf_.size(), f);
    std::fclose(f);
    if (got != buf_.size()) corrupt("truncated while being read (is another process writing it?)");
  }

  void parse() {
    const std::uint64_t size = buf_.size();
    if (size < 8) corrupt("the file is " + std::to_string(size) + " bytes, too short for the 8-byte header length");
    const std::uint64_t n = detail::get_le64(buf_.data());
    if (n > safetensors_format::kMaxHeaderBytes)
      corrupt("the header length field says " + std::to_string(n) + " bytes, more than the format's limit of 100 MB");
    if (n > size - 8)
      corrupt("the header length field says " + std::to_string(n) + " bytes but only " + std::to_string(size - 8) +
              " follow it (truncated?)");
    if (n < 2) corrupt("the header is " + std::to_string(n) + " bytes, too short for a JSON object");
    detail::SafetensorsHeaderParser(reinterpret_cast<const char*>(buf_.data() + 8), static_cast<std::size_t>(n),
                                    "safetensors file '" + label_ + "'")
        .parse(tensors_, metadata_);
    data_start_ = 8 + n;
    check_tensors(size - data_start_);
  }

  // Each tensor's dtype and size against its offsets, then the offsets against each other.
  void check_tensors(std::uint64_t buffer_bytes) {
    std::vector<std::pair<std::uint64_t, std::uint64_t>> spans;
    for (const auto& [name, t] : tensors_) {
      const std::uint64_t element = detail::safetensors_dtype_bytes(t.dtype);
      if (element == 0) corrupt("tensor '" + name + "' has an unknown dtype '" + t.dtype + "'");
      std::uint64_t bytes = element;
      for (const std::int64_t d : t.shape) {
        const auto u = static_cast<std::uint64_t>(d);
        if (u != 0 && bytes > buffer_bytes / u)
          corrupt("tensor '" + name + "': its shape holds more bytes than the file's buffer of " +
                  std::to_string(buffer_bytes));
        bytes *= u;
      }
      if (t.begin > t.end || t.end > buffer_bytes)
        corrupt("tensor '" + name + "': data_offsets [" + std::to_string(t.begin) + ", " + std::to_string(t.end) +
                "] lie outside the buffer of " + std::to_string(buffer_bytes) + " bytes");
      if (t.end - t.begin != bytes)
        corrupt("tensor '" + name + "': its shape and dtype make " + std::to_string(bytes) +
                " bytes but data_offsets span " + std::to_string(t.end - t.begin));
      spans.emplace_back(t.begin, t.end);
    }
    std::sort(spans.begin(), spans.end());
    std::uint64_t covered = 0;
    for (const auto& [begin, end] : spans) {
      if (begin < covered) corrupt("two tensors' data_offsets overlap at byte " + std::to_string(begin));
      if (begin > covered)
        corrupt("bytes " + std::to_string(covered) + " to " + std::to_string(begin) +
                " of the buffer belong to no tensor");
      covered = end;
    }
    if (covered != buffer_bytes)
      corrupt("the buffer has " + std::to_string(buffer_bytes - covered) + " bytes after the last tensor");
  }

  std::string label_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t data_start_ = 0;
  std::map<std::string, SafetensorsTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace vaegan
