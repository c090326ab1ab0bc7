#pragma once
// The checkpoint container format, version 1: constants, section types and the
// little-endian byte encoding shared by CheckpointWriter and CheckpointReader
// (io/checkpoint.hpp). docs/checkpoint-format.md is the full specification.
//
// All integers are little-endian; floats are IEEE-754 binary32/binary64, little-endian.
//
//   header, 32 bytes
//     0   8  magic "VAEGANCK"
//     8   4  u32 format version (1)         magic + version keep this place in every version
//    12   4  u32 section count
//    16   8  u64 file size in bytes, header and trailer included
//    24   4  u32 flags, 0 (a reader rejects bits it does not know)
//    28   4  u32 CRC-32 of bytes 0..27
//   sections, one after another
//     u32 name length N (1..255) | N bytes name (UTF-8) | u32 type tag | u64 payload
//     length L | L bytes payload | u32 CRC-32 of everything before it in this section
//   trailer, 12 bytes
//     8 bytes end marker "VGCK-END" | u32 CRC-32 of all bytes from offset 32 up to here
//
// The header's file size catches truncation anywhere, also exactly at a section
// boundary; the per-section CRCs name the damaged section; the trailer's CRC covers the
// section area as a whole. CRC-32 is zlib's (the ISO-HDLC / PNG polynomial).
#include <zlib.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"

namespace vaegan {

// What a section's payload holds.
enum class SectionType : std::uint32_t {
  bytes = 1,       // raw bytes
  string = 2,      // UTF-8 text, no terminator
  u64 = 3,         // 8 bytes
  i64 = 4,         // 8 bytes, two's complement
  f64 = 5,         // 8 bytes, binary64
  tensor_f32 = 6,  // u32 rank (1..4), rank x u64 dims, then the elements row-major as binary32
  tensor_f64 = 7,  // the same with binary64 elements
};

inline const char* section_type_name(SectionType t) {
  switch (t) {
    case SectionType::bytes: return "bytes";
    case SectionType::string: return "string";
    case SectionType::u64: return "u64";
    case SectionType::i64: return "i64";
    case SectionType::f64: return "f64";
    case SectionType::tensor_f32: return "tensor<float>";
    case SectionType::tensor_f64: return "tensor<double>";
  }
  return "unknown";
}

inline bool is_known_section_type(std::uint32_t tag) { return tag >= 1 && tag <= 7; }

namespace checkpoint_format {
constexpr std::uint32_t kVersion = 1;
constexpr char kMagic[8] = {'V', 'A', 'E', 'G', 'A', 'N', 'C', 'K'};
constexpr char kEndMarker[8] = {'V', 'G', 'C', 'K', '-', 'E', 'N', 'D'};
constexpr std::size_t kHeaderBytes = 32;
constexpr std::size_t kTrailerBytes = 12;
constexpr std::size_t kMaxNameBytes = 255;
constexpr std::size_t kMaxTensorRank = 4;
// Default load limit: far above any model here (the mlp preset is ~10 MB), low enough
// that a corrupted size field cannot make the reader allocate absurd amounts.
constexpr std::uint64_t kDefaultMaxFileBytes = std::uint64_t{16} << 30;
}  // namespace checkpoint_format

namespace detail {

inline void put_u32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline void put_u64(std::vector<std::uint8_t>& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
inline void put_bytes(std::vector<std::uint8_t>& out, const void* data, std::size_t n) {
  const auto* p = static_cast<const std::uint8_t*>(data);
  out.insert(out.end(), p, p + n);
}
inline std::uint32_t get_u32(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
inline std::uint64_t get_u64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

inline bool host_is_little_endian() {
  const std::uint32_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Appends n floats or doubles as little-endian IEEE-754.
template <class T>
void put_floats(std::vector<std::uint8_t>& out, const T* data, std::size_t n) {
  static_assert(sizeof(float) == 4 && sizeof(double) == 8, "IEEE-754 float and double required");
  const std::size_t start = out.size();
  out.resize(start + n * sizeof(T));
  if (n == 0) return;
  std::memcpy(out.data() + start, data, n * sizeof(T));
  if (!host_is_little_endian())
    for (std::size_t i = 0; i < n; ++i)
      for (std::size_t b = 0; b < sizeof(T) / 2; ++b)
        std::swap(out[start + i * sizeof(T) + b], out[start + i * sizeof(T) + sizeof(T) - 1 - b]);
}
template <class T>
void get_floats(const std::uint8_t* in, T* out, std::size_t n) {
  if (n == 0) return;
  std::memcpy(out, in, n * sizeof(T));
  if (!host_is_little_endian())
    for (std::size_t i = 0; i < n; ++i) {
      auto* b = reinterpret_cast<unsigned char*>(out + i);
      for (std::size_t k = 0; k < sizeof(T) / 2; ++k) std::swap(b[k], b[sizeof(T) - 1 - k]);
    }
}

inline std::uint64_t f64_bits(double v) {
  std::uint64_t u;
  std::memcpy(&u, &v, 8);
  return u;
}
inline double f64_from_bits(std::uint64_t u) {
  double v;
  std::memcpy(&v, &u, 8);
  return v;
}

// zlib's crc32 takes a 32-bit length; feed large buffers in pieces.
inline std::uint32_t crc32_update(std::uint32_t crc, const std::uint8_t* data, std::size_t n) {
  uLong c = crc;
  while (n > 0) {
    const std::size_t piece = n < (std::size_t{1} << 30) ? n : (std::size_t{1} << 30);
    c = ::crc32(c, data, static_cast<uInt>(piece));
    data += piece;
    n -= piece;
  }
  return static_cast<std::uint32_t>(c);
}
inline std::uint32_t crc32_of(const std::uint8_t* data, std::size_t n) { return crc32_update(0, data, n); }

template <class T>
constexpr SectionType tensor_section_type() {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value,
                "checkpoints store float and double tensors");
  return std::is_same<T, float>::value ? SectionType::tensor_f32 : SectionType::tensor_f64;
}

}  // namespace detail
}  // namespace vaegan
