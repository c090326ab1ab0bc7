#pragma once
// IDX files (the MNIST format): reader and writer for unsigned-byte images and labels.
//
// Layout, all integers big-endian:
//   images: u32 magic 2051 (0x00000803: type 0x08 = uint8, 3 dims), u32 count, u32 rows,
//           u32 cols, then count*rows*cols pixel bytes, row-major, image after image;
//   images with channels (colour): u32 magic 2052 (0x00000804: uint8, 4 dims), u32 count,
//           u32 channels, u32 rows, u32 cols, then count*channels*rows*cols bytes, each
//           image channel-planar as PyTorch's [N, C, H, W] (all of channel 0 row-major,
//           then channel 1, ...);
//   labels: u32 magic 2049 (0x00000801: uint8, 1 dim), u32 count, then count label bytes.
// The writer writes a 3-dim file for one channel (as before, what MNIST tools read) and a
// 4-dim file for more. The reader takes 3-dim files only unless asked for 4-dim ones too
// (IdxImageDims::with_channels): code written for gray files, which sizes images as
// rows * cols, then refuses a colour file instead of misreading it.
// A file is read plain or gzip-compressed (io/gzip.hpp); gzip is recognized by its first two
// bytes (0x1f 0x8b), never by the file name, so a renamed file still works. The *_from_bytes
// readers parse a file already in memory with the same code (the fuzz harnesses in
// tests/fuzz use them).
//
// The reader trusts nothing in a header: it checks magic, dimensions and limits, and
// that the payload is exactly count*channels*rows*cols bytes, before it sizes a buffer
// from the header. A plain file is checked against its size on disk; a gzip stream,
// whose size is only known once inflated, is read into a buffer that grows with the data
// actually inflated and is capped at the size the header claims. No payload above 16 GiB is
// accepted (kIdxMaxPayloadBytes). A ten-byte file that claims a billion images fails with
// a message, never with a huge allocation.
//
// The writer writes a temporary file in the target's directory and renames it over the
// target, so a failed or interrupted write never leaves a partial file behind.
//
// Needs zlib, through io/gzip.hpp (link with -lz, or ZLIB::ZLIB in CMake).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/gzip.hpp"

namespace vaegan {

inline constexpr std::uint32_t kIdxImagesMagic = 2051;         // 0x00000803: [count, rows, cols]
inline constexpr std::uint32_t kIdxChannelImagesMagic = 2052;  // 0x00000804: [count, channels, rows, cols]
inline constexpr std::uint32_t kIdxLabelsMagic = 2049;         // 0x00000801
// Sanity limits: generous for any image dataset, small enough that a corrupt header is
// caught by the limit check before anything else.
inline constexpr Index kIdxMaxSide = 4096;
inline constexpr Index kIdxMaxChannels = 64;
inline constexpr Index kIdxMaxCount = 100'000'000;
// The most payload bytes (count * channels * rows * cols) the reader accepts: 16 GiB,
// some 350 times MNIST's training images, so that no header can make it allocate more.
inline constexpr std::uint64_t kIdxMaxPayloadBytes = std::uint64_t{1} << 34;

// Images of one IDX file: `count` images of channels x rows x cols bytes, channel-planar
// (each channel's rows x cols plane row-major), one after another.
struct IdxImages {
  Index count = 0;
  Index rows = 0;
  Index cols = 0;
  std::vector<std::uint8_t> pixels;  // count * channels * rows * cols bytes
  // 1: gray, a 3-dim file; more: a 4-dim file [count, channels, rows, cols]. Last, so that
  // brace-initialising {count, rows, cols, pixels} keeps its meaning.
  Index channels = 1;

  // Bytes of one channel plane (all of one gray image). Kept rows * cols, not the values
  // of one image: code that knows nothing of channels then finds that count * image_size()
  // does not match pixels.size() of a colour file instead of reading every image wrong.
  Index image_size() const { return rows * cols; }
  // Bytes of one image, all channels: channels * rows * cols.
  Index values_per_image() const { return channels * rows * cols; }
};

// Which image files a reader takes.
enum class IdxImageDims {
  gray,           // [count, rows, cols] only (magic 2051): for code written for one channel
  with_channels,  // also [count, channels, rows, cols] (magic 2052); `channels` says which
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
inline const char* idx_fix_hint() { return "replace it with an intact copy of the data set's file"; }

[[noreturn]] inline void throw_idx(const std::string& path, const std::string& problem) {
  throw IoError(path + ": " + problem);
}

// One IDX input, plain or gzip (io/gzip.hpp), read front to back: the header's fields and
// a payload of exactly the size the header claims.
class IdxInput {
 public:
  explicit IdxInput(const std::string& path) : path_(path), in_(path, idx_fix_hint()) {}
  // `size` bytes at `data`, which must outlive the input; `label` stands for the path in
  // messages.
  IdxInput(const std::uint8_t* data, std::size_t size, std::string label)
      : path_(label), in_(data, size, std::move(label), idx_fix_hint()) {}
  IdxInput(const IdxInput&) = delete;
  IdxInput& operator=(const IdxInput&) = delete;

  // Reads a big-endian u32; `field` names it in the error if the file ends first.
  std::uint32_t read_u32(const char* field) {
    unsigned char b[4];
    if (in_.read(b, 4) != 4)
      throw_idx(path_, std::string("truncated header: ") + in_.kind() + " ends before the " + field + " field; " +
                           idx_fix_hint());
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
  }

  // Reads exactly `expected` payload bytes and checks nothing follows them. `what`
  // describes the claim ("60000 images of 28x28") for the error message.
  std::vector<std::uint8_t> read_payload(std::uint64_t expected, std::uint64_t header_bytes, const std::string& what) {
    const std::string claim = "header says " + what + " (" + std::to_string(expected) + " bytes)";
    const auto check_limit = [&] {
      if (expected > kIdxMaxPayloadBytes)
        throw_idx(path_, "payload size: " + claim + ", more than the reader's limit of " +
                             std::to_string(kIdxMaxPayloadBytes) +
                             " bytes (16 GiB); the header is corrupt or the "
                             "dataset must be split into several files");
    };
    std::vector<std::uint8_t> data;
    if (!in_.gzip()) {
      // The size is known: compare before allocating anything.
      const std::uint64_t available = in_.plain_size() >= header_bytes ? in_.plain_size() - header_bytes : 0;
      if (available < expected)
        throw_idx(path_, "truncated: " + claim + " but the file holds " + std::to_string(available) +
                             " bytes after the header; " + idx_fix_hint());
      if (available > expected)
        throw_idx(path_, "trailing bytes: " + claim + " but the file holds " + std::to_string(available) +
                             " bytes after the header (" + std::to_string(available - expected) +
                             " extra); the count in the header or the file is wrong; " + idx_fix_hint());
      check_limit();
      data.resize(static_cast<std::size_t>(expected));
      const std::size_t got = in_.read(data.data(), data.size());
      if (got != expected)
        throw_idx(path_, "truncated: " + claim + " but only " + std::to_string(got) +
                             " bytes could be read (was the file changed while reading?)");
    } else {
      // The inflated size is unknown until inflated: grow with the data, capped at the claim.
      check_limit();
      constexpr std::size_t kChunk = std::size_t{1} << 20;
      std::size_t size = 0;
      while (size < expected) {
        const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(kChunk, expected - size));
        if (data.capacity() < size + want)
          data.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(expected, 2 * (size + want))));
        data.resize(size + want);
        const std::size_t got = in_.read(data.data() + size, want);
        size += got;
        if (got < want) {
          throw_idx(path_, std::string("truncated: ") + claim + " but " + in_.kind() + " holds " +
                               std::to_string(size) + " bytes after the header; " + idx_fix_hint());
        }
      }
    }
    // Anything left is trailing garbage. For gzip this probe also makes zlib verify the
    // CRC and length of the last member.
    unsigned char extra[256];
    std::uint64_t trailing = 0;
    for (std::size_t got; (got = in_.read(extra, sizeof extra)) > 0;) trailing += got;
    if (in_.stream_cut())
      throw_idx(path_, "truncated gzip file: the payload is complete but the stream ends before its CRC trailer; " +
                           std::string(idx_fix_hint()));
    if (trailing > 0)
      throw_idx(path_, "trailing bytes: " + claim + " but " + in_.kind() + " holds at least " +
                           std::to_string(trailing) +
                           " more bytes after them; the count in the header or the file is "
                           "wrong; " +
                           idx_fix_hint());
    return data;
  }

 private:
  std::string path_;
  ByteInput in_;
};

inline std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(v));
  return buf;
}

// Checks a magic number and explains the likely mix-up when it is wrong. `also`, when not
// 0, is a second magic accepted, described by `also_what`.
inline void check_idx_magic(const std::string& path, std::uint32_t magic, std::uint32_t expected, const char* what,
                            std::uint32_t also = 0, const char* also_what = "") {
  if (magic == expected || (also != 0 && magic == also)) return;
  std::string why;
  const unsigned type = (magic >> 8) & 0xff, dims = magic & 0xff;
  if (magic == kIdxChannelImagesMagic && expected == kIdxImagesMagic) {
    why =
        "this is an IDX file of images with channels [count, channels, rows, cols] (colour images), and this "
        "reader takes gray images [count, rows, cols] only";
  } else if (magic == kIdxImagesMagic || magic == kIdxChannelImagesMagic || magic == kIdxLabelsMagic) {
    why = magic == kIdxLabelsMagic ? "this is an IDX labels file" : "this is an IDX images file";
    why += "; were the images and labels paths swapped?";
  } else if ((magic >> 16) != 0) {
    // Byte-swapped magic (little-endian writer) or not IDX at all.
    const std::uint32_t swapped =
        ((magic & 0xff) << 24) | ((magic & 0xff00) << 8) | ((magic >> 8) & 0xff00) | (magic >> 24);
    why = swapped == expected || (also != 0 && swapped == also)
              ? "the header is little-endian; IDX integers are big-endian"
              : "not an IDX file (the first two bytes of an IDX file are zero)";
  } else if (type != 0x08) {
    char code[8];
    std::snprintf(code, sizeof code, "0x%02X", type);
    why = std::string("element type ") + code + " is not unsigned byte (0x08), the only type supported";
  } else {
    why = std::to_string(dims) + " dimensions where " + what + " have " + std::to_string(expected & 0xff);
    if (also != 0) why += ", and " + std::string(also_what) + " " + std::to_string(also & 0xff);
  }
  std::string expectation = std::to_string(expected) + " (" + hex32(expected) + ", " + what + ")";
  if (also != 0) expectation += " or " + std::to_string(also) + " (" + hex32(also) + ", " + also_what + ")";
  throw_idx(path,
            "magic: expected " + expectation + " but got " + std::to_string(magic) + " (" + hex32(magic) + "): " + why);
}

inline void check_idx_range(const std::string& path, const char* field, std::uint32_t v, Index lo, Index hi) {
  if (static_cast<Index>(v) < lo || static_cast<Index>(v) > hi)
    throw_idx(path, std::string(field) + ": " + std::to_string(v) + " is outside the accepted range " +
                        std::to_string(lo) + ".." + std::to_string(hi) +
                        "; the header is corrupt or this is not "
                        "an image dataset; " +
                        idx_fix_hint());
}

}  // namespace detail

namespace detail {

inline IdxImages parse_idx_images(IdxInput& in, const std::string& path, IdxImageDims accept) {
  const std::uint32_t magic = in.read_u32("magic");
  if (accept == IdxImageDims::gray) check_idx_magic(path, magic, kIdxImagesMagic, "uint8 images [count, rows, cols]");
  else
    check_idx_magic(path, magic, kIdxImagesMagic, "uint8 images [count, rows, cols]", kIdxChannelImagesMagic,
                    "uint8 images [count, channels, rows, cols]");
  const bool four = magic == kIdxChannelImagesMagic;
  const std::uint32_t count = in.read_u32("image count");
  const std::uint32_t channels = four ? in.read_u32("channels") : 1;
  const std::uint32_t rows = in.read_u32("rows");
  const std::uint32_t cols = in.read_u32("cols");
  check_idx_range(path, "image count", count, 0, kIdxMaxCount);
  check_idx_range(path, "channels", channels, 1, kIdxMaxChannels);
  check_idx_range(path, "rows", rows, 1, kIdxMaxSide);
  check_idx_range(path, "cols", cols, 1, kIdxMaxSide);
  IdxImages out;
  out.count = count;
  out.channels = channels;
  out.rows = rows;
  out.cols = cols;
  // At most 1e8 * 64 * 4096 * 4096 < 2^57: no overflow.
  const std::uint64_t bytes = std::uint64_t{count} * channels * rows * cols;
  const std::string shape =
      (four ? std::to_string(channels) + "x" : std::string()) + std::to_string(rows) + "x" + std::to_string(cols);
  out.pixels = in.read_payload(bytes, four ? 20 : 16, std::to_string(count) + " images of " + shape);
  return out;
}

inline IdxLabels parse_idx_labels(IdxInput& in, const std::string& path) {
  check_idx_magic(path, in.read_u32("magic"), kIdxLabelsMagic, "uint8 labels [count]");
  const std::uint32_t count = in.read_u32("label count");
  check_idx_range(path, "label count", count, 0, kIdxMaxCount);
  IdxLabels out;
  out.labels = in.read_payload(count, 8, std::to_string(count) + " labels");
  return out;
}

}  // namespace detail

// Reads an IDX images file (magic 2051, uint8, [count, rows, cols]), plain or gzip; with
// IdxImageDims::with_channels also one of magic 2052 [count, channels, rows, cols].
inline IdxImages read_idx_images(const std::string& path, IdxImageDims accept = IdxImageDims::gray) {
  detail::IdxInput in(path);
  return detail::parse_idx_images(in, path, accept);
}

// Reads an IDX labels file (magic 2049, uint8, [count]), plain or gzip.
inline IdxLabels read_idx_labels(const std::string& path) {
  detail::IdxInput in(path);
  return detail::parse_idx_labels(in, path);
}

// The same from the `size` bytes of a file already in memory (plain or gzip, told apart by
// the first two bytes, as for a file); `label` stands for the file name in messages.
inline IdxImages read_idx_images_from_bytes(const std::uint8_t* data, std::size_t size,
                                            const std::string& label = "<memory>",
                                            IdxImageDims accept = IdxImageDims::gray) {
  detail::IdxInput in(data, size, label);
  return detail::parse_idx_images(in, label, accept);
}
inline IdxLabels read_idx_labels_from_bytes(const std::uint8_t* data, std::size_t size,
                                            const std::string& label = "<memory>") {
  detail::IdxInput in(data, size, label);
  return detail::parse_idx_labels(in, label);
}

// Reads an images file and its labels file and checks that they hold the same number.
inline IdxPair read_idx_pair(const std::string& images_path, const std::string& labels_path) {
  IdxPair pair{read_idx_images(images_path), read_idx_labels(labels_path)};
  if (pair.images.count != pair.labels.count())
    throw IoError(labels_path + ": label count: holds " + std::to_string(pair.labels.count()) + " labels but " +
                  images_path + " holds " + std::to_string(pair.images.count) +
                  " images; the two files must come from the same split of one data set");
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

// Writes header + payload through AtomicFile (temporary file, fsync, rename), gzip-
// compressed when the name ends in ".gz".
inline void write_idx_atomically(const std::string& path, const std::vector<std::uint8_t>& header,
                                 const std::uint8_t* payload, std::size_t payload_size) {
  if (payload_size > (std::size_t{1} << 31)) throw_idx(path, "cannot write more than 2 GiB of pixels in one IDX file");
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

// Writes an IDX images file: 3 dims [count, rows, cols] (magic 2051) for one channel,
// 4 dims [count, channels, rows, cols] (magic 2052) for more; gzip when `path` ends in
// ".gz". Atomic: on failure the target is left as it was.
inline void write_idx_images(const std::string& path, const IdxImages& images) {
  const std::string shape = (images.channels != 1 ? std::to_string(images.channels) + "x" : std::string()) +
                            std::to_string(images.rows) + "x" + std::to_string(images.cols);
  if (images.count < 0 || images.count > kIdxMaxCount || images.channels < 1 || images.channels > kIdxMaxChannels ||
      images.rows < 1 || images.rows > kIdxMaxSide || images.cols < 1 || images.cols > kIdxMaxSide)
    detail::throw_idx(path, "cannot write " + std::to_string(images.count) + " images of " + shape +
                                ": count must be 0.." + std::to_string(kIdxMaxCount) + ", channels 1.." +
                                std::to_string(kIdxMaxChannels) + " and rows/cols 1.." + std::to_string(kIdxMaxSide));
  const std::uint64_t bytes = std::uint64_t(images.count) * std::uint64_t(images.channels) *
                              std::uint64_t(images.rows) * std::uint64_t(images.cols);
  if (images.pixels.size() != bytes)
    detail::throw_idx(path, "cannot write: pixels holds " + std::to_string(images.pixels.size()) + " bytes but " +
                                std::to_string(images.count) + " images of " + shape + " need " +
                                std::to_string(bytes));
  const bool four = images.channels != 1;
  std::vector<std::uint8_t> header;
  detail::put_u32_be(header, four ? kIdxChannelImagesMagic : kIdxImagesMagic);
  detail::put_u32_be(header, static_cast<std::uint32_t>(images.count));
  if (four) detail::put_u32_be(header, static_cast<std::uint32_t>(images.channels));
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
