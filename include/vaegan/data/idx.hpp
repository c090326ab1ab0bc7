#pragma once
// IDX files (the MNIST format): reader and writer for unsigned-byte images and labels.
//
// Layout, all integers big-endian:
//   images: u32 magic 2051 (0x00000803: type 0x08 = uint8, 3 dims), u32 count, u32 rows,
//           u32 cols, then count*rows*cols pixel bytes, row-major, image after image;
//   labels: u32 magic 2049 (0x00000801: uint8, 1 dim), u32 count, then count label bytes.
// A file is read plain or gzip-compressed; gzip is recognized by its first two bytes
// (0x1f 0x8b), never by the file name, so a renamed file still works.
//
// The reader trusts nothing in a header: it checks magic, dimensions and limits, and
// that the payload is exactly count*rows*cols bytes, before it sizes a buffer from the
// header. A plain file is checked against its size on disk; a gzip stream, whose size is
// only known once inflated, is read into a buffer that grows with the data actually
// inflated and is capped at the size the header claims. A ten-byte file that claims a
// billion images fails with a message, never with a huge allocation.
//
// The writer writes a temporary file in the target's directory and renames it over the
// target, so a failed or interrupted write never leaves a partial file behind.
//
// Needs zlib (link with -lz, or ZLIB::ZLIB in CMake).
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/io/atomic_file.hpp"

namespace vaegan {

inline constexpr std::uint32_t kIdxImagesMagic = 2051;  // 0x00000803
inline constexpr std::uint32_t kIdxLabelsMagic = 2049;  // 0x00000801
// Sanity limits: generous for any image dataset, small enough that a corrupt header is
// caught by the limit check before anything else.
inline constexpr Index kIdxMaxSide = 4096;
inline constexpr Index kIdxMaxCount = 100'000'000;

// Images of one IDX file: `count` images of rows x cols bytes, row-major, one after another.
struct IdxImages {
  Index count = 0;
  Index rows = 0;
  Index cols = 0;
  std::vector<std::uint8_t> pixels;  // count * rows * cols bytes

  Index image_size() const { return rows * cols; }
};

// Labels of one IDX file, one byte per image.
struct IdxLabels {
  std::vector<std::uint8_t> labels;

  Index count() const { return static_cast<Index>(labels.size()); }
};

// An images file and its labels file, with equal counts.
struct IdxPair {
  IdxImages images;
  IdxLabels labels;
};

namespace detail {

// What to tell the user when a file is unusable.
inline const char* idx_fix_hint() { return "re-download it or rerun scripts/get_mnist.sh"; }

[[noreturn]] inline void throw_idx(const std::string& path, const std::string& problem) {
  throw IoError(path + ": " + problem);
}

// One open IDX file, plain or gzip, read front to back.
class IdxInput {
 public:
  explicit IdxInput(const std::string& path) : path_(path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) {
      std::error_code ec;
      const bool exists = std::filesystem::exists(path, ec);
      throw_idx(path, exists ? "cannot open the file for reading (check its permissions)"
                             : "no such file; check the path, or get the data with scripts/get_mnist.sh");
    }
    unsigned char magic[2] = {0, 0};
    const std::size_t got = std::fread(magic, 1, 2, f);
    gzip_ = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (!gzip_) {
      std::error_code ec;
      const auto size = std::filesystem::file_size(path, ec);
      if (ec) {
        std::fclose(f);  // the destructor does not run when a constructor throws
        throw_idx(path, "cannot determine the file size (" + ec.message() + "); is it a regular file?");
      }
      std::rewind(f);
      plain_ = f;
      file_size_ = static_cast<std::uint64_t>(size);
      return;
    }
    std::fclose(f);
    gz_ = gzopen(path.c_str(), "rb");
    if (!gz_) throw_idx(path, "cannot open the gzip stream");
    gzbuffer(gz_, 1 << 17);
  }
  ~IdxInput() {
    if (plain_) std::fclose(plain_);
    if (gz_) gzclose(gz_);
  }
  IdxInput(const IdxInput&) = delete;
  IdxInput& operator=(const IdxInput&) = delete;

  bool gzip() const { return gzip_; }
  // Size on disk of a plain file (the gzip size says nothing about the inflated size).
  std::uint64_t plain_size() const { return file_size_; }
  const char* kind() const {
    if (!gzip_) return "the file";
    return stream_cut_ ? "the gzip stream, which is cut short," : "the decompressed stream";
  }

  // Reads up to n bytes; fewer only at the end of the data. Throws on a read error or a
  // corrupt gzip stream (bad deflate data, CRC or length mismatch).
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t total = 0;
    while (total < n) {
      std::size_t got;
      if (gzip_) {
        // gzread takes an unsigned count: read in chunks of at most 1 GiB.
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - total, std::size_t{1} << 30));
        const int r = gzread(gz_, out + total, chunk);
        if (r < 0) {
          int errnum = 0;
          const char* msg = gzerror(gz_, &errnum);
          throw_idx(path_, std::string("corrupt gzip data (") + (msg ? msg : "unknown zlib error") + "); " +
                               idx_fix_hint());
        }
        got = static_cast<std::size_t>(r);
      } else {
        got = std::fread(out + total, 1, n - total, plain_);
        if (got == 0 && std::ferror(plain_)) throw_idx(path_, "read error");
      }
      if (got == 0) {
        // zlib reports a compressed stream cut short as end of data plus Z_BUF_ERROR;
        // the caller words the error, since it knows what was expected.
        if (gzip_) {
          int errnum = 0;
          gzerror(gz_, &errnum);
          if (errnum == Z_BUF_ERROR) stream_cut_ = true;
        }
        break;
      }
      total += got;
    }
    return total;
  }

  // Reads a big-endian u32; `field` names it in the error if the file ends first.
  std::uint32_t read_u32(const char* field) {
    unsigned char b[4];
    if (read(b, 4) != 4)
      throw_idx(path_, std::string("truncated header: ") + kind() + " ends before the " + field + " field; " +
                           idx_fix_hint());
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
  }

  // Reads exactly `expected` payload bytes and checks nothing follows them. `what`
  // describes the claim ("60000 images of 28x28") for the error message.
  std::vector<std::uint8_t> read_payload(std::uint64_t expected, std::uint64_t header_bytes, const std::string& what) {
    const std::string claim = "header says " + what + " (" + std::to_string(expected) + " bytes)";
    std::vector<std::uint8_t> data;
    if (!gzip_) {
      // The size on disk is known: compare before allocating anything.
      const std::uint64_t available = file_size_ >= header_bytes ? file_size_ - header_bytes : 0;
      if (available < expected)
        throw_idx(path_, "truncated: " + claim + " but the file holds " + std::to_string(available) +
                             " bytes after the header; " + idx_fix_hint());
      if (available > expected)
        throw_idx(path_, "trailing bytes: " + claim + " but the file holds " + std::to_string(available) +
                             " bytes after the header (" + std::to_string(available - expected) +
                             " extra); the count in the header or the file is wrong; " + idx_fix_hint());
      data.resize(static_cast<std::size_t>(expected));
      const std::size_t got = read(data.data(), data.size());
      if (got != expected)
        throw_idx(path_, "truncated: " + claim + " but only " + std::to_string(got) +
                             " bytes could be read (was the file changed while reading?)");
    } else {
      // The inflated size is unknown until inflated: grow with the data, capped at the claim.
      constexpr std::size_t kChunk = std::size_t{1} << 20;
      std::size_t size = 0;
      while (size < expected) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, expected - size));
        if (data.capacity() < size + want)
          data.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, 2 * (size + want))));
        data.resize(size + want);
        const std::size_t got = read(data.data() + size, want);
        size += got;
        if (got < want) {
          throw_idx(path_, std::string("truncated: ") + claim + " but " + kind() + " holds " +
                               std::to_string(size) + " bytes after the header; " + idx_fix_hint());
        }
      }
    }
    // Anything left is trailing garbage. For gzip this probe also makes zlib verify the
    // CRC and length of the last member.
    unsigned char extra[256];
    std::uint64_t trailing = 0;
    for (std::size_t got; (got = read(extra, sizeof extra)) > 0;) trailing += got;
    if (stream_cut_)
      throw_idx(path_, "truncated gzip file: the payload is complete but the stream ends before its CRC trailer; " +
                           std::string(idx_fix_hint()));
    if (trailing > 0)
      throw_idx(path_, "trailing bytes: " + claim + " but " + kind() + " holds at least " +
                           std::to_string(trailing) + " more bytes after them; the count in the header or the file is "
                           "wrong; " + idx_fix_hint());
    return data;
  }

 private:
  std::string path_;
  std::FILE* plain_ = nullptr;
  gzFile gz_ = nullptr;
  bool gzip_ = false;
  bool stream_cut_ = false;  // the gzip data ended mid-stream
  std::uint64_t file_size_ = 0;
};

inline std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

// Checks a magic number and explains the likely mix-up when it is wrong.
inline void check_idx_magic(const std::string& path, std::uint32_t magic, std::uint32_t expected, const char* what) {
  if (magic == expected) return;
  std::string why;
  const unsigned type = (magic >> 8) & 0xff, dims = magic & 0xff;
  if (magic == kIdxImagesMagic || magic == kIdxLabelsMagic) {
    why = magic == kIdxImagesMagic ? "this is an IDX images file" : "this is an IDX labels file";
    why += "; were the images and labels paths swapped?";
  } else if ((magic >> 16) != 0) {
    // Byte-swapped magic (little-endian writer) or not IDX at all.
    const std::uint32_t swapped = ((magic & 0xff) << 24) | ((magic & 0xff00) << 8) | ((magic >> 8) & 0xff00) | (magic >> 24);
    why = swapped == expected ? "the header is little-endian; IDX integers are big-endian"
                              : "not an IDX file (the first two bytes of an IDX file are zero)";
  } else if (type != 0x08) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", type);
    why = std::string("element type ") + code + " is not unsigned byte (0x08), the only type supported";
  } else {
    why = std::to_string(dims) + " dimensions where " + what + " have " + std::to_string(expected & 0xff);
  }
  throw_idx(path, "magic: expected " + std::to_string(expected) + " (" + hex32(expected) + ", " + what + ") but got " +
                      std::to_string(magic) + " (" + hex32(magic) + "): " + why);
}

inline void check_idx_range(const std::string& path, const char* field, std::uint32_t v, Index lo, Index hi) {
  if (static_cast<Index>(v) < lo || static_cast<Index>(v) > hi)
    throw_idx(path, std::string(field) + ": " + std::to_string(v) + " is outside the accepted range " +
                        std::to_string(lo) + ".." + std::to_string(hi) + "; the header is corrupt or this is not "
                        "an image dataset; " + idx_fix_hint());
}

}  // namespace detail

// Reads an IDX images file (magic 2051, uint8, [count, rows, cols]), plain or gzip.
inline IdxImages read_idx_images(const std::string& path) {
  detail::IdxInput in(path);
  detail::check_idx_magic(path, in.read_u32("magic"), kIdxImagesMagic, "uint8 images [count, rows, cols]");
  const std::uint32_t count = in.read_u32("image count");
  const std::uint32_t rows = in.read_u32("rows");
  const std::uint32_t cols = in.read_u32("cols");
  detail::check_idx_range(path, "image count", count, 0, kIdxMaxCount);
  detail::check_idx_range(path, "rows", rows, 1, kIdxMaxSide);
  detail::check_idx_range(path, "cols", cols, 1, kIdxMaxSide);
  IdxImages out;
  out.count = count;
  out.rows = rows;
  out.cols = cols;
  // At most 1e8 * 4096 * 4096 < 2^61: no overflow.
  const std::uint64_t bytes = std::uint64_t{count} * rows * cols;
  out.pixels = in.read_payload(bytes, 16,
                               std::to_string(count) + " images of " + std::to_string(rows) + "x" + std::to_string(cols));
  return out;
}

// Reads an IDX labels file (magic 2049, uint8, [count]), plain or gzip.
inline IdxLabels read_idx_labels(const std::string& path) {
  detail::IdxInput in(path);
  detail::check_idx_magic(path, in.read_u32("magic"), kIdxLabelsMagic, "uint8 labels [count]");
  const std::uint32_t count = in.read_u32("label count");
  detail::check_idx_range(path, "label count", count, 0, kIdxMaxCount);
  IdxLabels out;
  out.labels = in.read_payload(count, 8, std::to_string(count) + " labels");
  return out;
}

// Reads an images file and its labels file and checks that they hold the same number.
inline IdxPair read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  IdxPair pair{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (pair.images.count != pair.labels.count())
    throw IoError(labels_path + ": label count: holds " + std::to_string(pair.labels.count()) + " labels but " +
                  images_path + " holds " + std::to_string(pair.images.count) +
                  " images; the two files must come from the same split (rerun scripts/get_mnist.sh)");
  return pair;
}

namespace detail {

inline void put_u32_be(std::vector<std::uint8_t>& out, std::uint32_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 24));
  out.push_back(static_cast<std::uint8_t>(v >> 16));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}

inline bool ends_with_gz(const std::string& path) {
  return path.size() >= 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
}

// gzip-compresses `n` bytes into `out` (deflate with a gzip wrapper: windowBits 15 + 16).
inline bool gzip_compress(const std::uint8_t* data, std::size_t n, std::vector<std::uint8_t>& out) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) return false;
  out.resize(deflateBound(&zs, static_cast<uLong>(n)) + 64);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(n);
  zs.next_out = out.data();
  zs.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return rc == Z_STREAM_END;
}

// Writes header + payload through AtomicFile (temporary file, fsync, rename), gzip-
// compressed when the name ends in ".gz".
inline void write_idx_atomically(const std::string& path, const std::vector<std::uint8_t>& header,
                                  const std::uint8_t* payload, std::size_t payload_size) {
  if (payload_size > (std::size_t{1} << 31))
    throw_idx(path, "cannot write more than 2 GiB of pixels in one IDX file");
  AtomicFile file(path, "write_idx");
  if (ends_with_gz(path)) {
    std::vector<std::uint8_t> raw(header);
    raw.insert(raw.end(), payload, payload + payload_size);
    std::vector<std::uint8_t> packed;
    if (!gzip_compress(raw.data(), raw.size(), packed)) throw_idx(path, "gzip compression failed (zlib error)");
    file.write(packed.data(), packed.size());
  } else {
    file.write(header.data(), header.size());
    if (payload_size) file.write(payload, payload_size);
  }
  file.commit();
}

}  // namespace detail

// Writes an IDX images file; gzip when `path` ends in ".gz". Atomic: on failure the
// target is left as it was.
inline void write_idx_images(const std::string& path, const IdxImages& images) {
  if (images.count < 0 || images.count > kIdxMaxCount || images.rows < 1 || images.rows > kIdxMaxSide ||
      images.cols < 1 || images.cols > kIdxMaxSide)
    detail::throw_idx(path, "cannot write " + std::to_string(images.count) + " images of " +
                                std::to_string(images.rows) + "x" + std::to_string(images.cols) + ": count must be 0.." +
                                std::to_string(kIdxMaxCount) + " and rows/cols 1.." + std::to_string(kIdxMaxSide));
  const std::uint64_t bytes = std::uint64_t(images.count) * std::uint64_t(images.rows) * std::uint64_t(images.cols);
  if (images.pixels.size() != bytes)
    detail::throw_idx(path, "cannot write: pixels holds " + std::to_string(images.pixels.size()) + " bytes but " +
                                std::to_string(images.count) + " images of " + std::to_string(images.rows) + "x" +
                                std::to_string(images.cols) + " need " + std::to_string(bytes));
  std::vector<std::uint8_t> header;
  detail::put_u32_be(header, kIdxImagesMagic);
  detail::put_u32_be(header, static_cast<std::uint32_t>(images.count));
  detail::put_u32_be(header, static_cast<std::uint32_t>(images.rows));
  detail::put_u32_be(header, static_cast<std::uint32_t>(images.cols));
  detail::write_idx_atomically(path, header, images.pixels.data(), images.pixels.size());
}

// Writes an IDX labels file; gzip when `path` ends in ".gz". Atomic like write_idx_images.
inline void write_idx_labels(const std::string& path, const IdxLabels& labels) {
  if (labels.count() > kIdxMaxCount)
    detail::throw_idx(path, "cannot write " + std::to_string(labels.count()) + " labels: the limit is " +
                                std::to_string(kIdxMaxCount));
  std::vector<std::uint8_t> header;
  detail::put_u32_be(header, kIdxLabelsMagic);
  detail::put_u32_be(header, static_cast<std::uint32_t>(labels.count()));
  detail::write_idx_atomically(path, header, labels.labels.data(), labels.labels.size());
}

}  // namespace vaegan
