// Tests for data/idx.hpp: round trips through the writer and reader, plain and gzip, and
// every way a file can be broken, each error checked for its type, the file it names and
// the problem it states.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <string>

#include "data/data_test_util.hpp"
#include "test_util.hpp"
#include "vaegan/data/idx.hpp"

using vaegan::IdxImages;
using vaegan::IdxLabels;
using vaegan::IoError;
using vaegan::read_idx_images;
using vaegan::read_idx_labels;
using vaegan::read_idx_pair;
using vaegan::write_idx_images;
using vaegan::write_idx_labels;
using vaegan::test::Bytes;
using vaegan::test::concat;
using vaegan::test::idx_header;
using vaegan::test::pattern_bytes;
using vaegan::test::read_bytes;
using vaegan::test::TempDir;
using vaegan::test::write_bytes;
using vaegan::test::write_gzip;

namespace {

IdxImages sample_images(vaegan::Index count, vaegan::Index rows, vaegan::Index cols) {
  IdxImages images;
  images.count = count;
  images.rows = rows;
  images.cols = cols;
  images.pixels = pattern_bytes(static_cast<std::size_t>(count * rows * cols), 7);
  return images;
}

IdxLabels sample_labels(vaegan::Index count) {
  IdxLabels labels;
  for (vaegan::Index i = 0; i < count; ++i) labels.labels.push_back(static_cast<std::uint8_t>((i * 7) % 10));
  return labels;
}

// Runs `fn`, which must throw IoError, and returns the message.
template <class Fn>
std::string io_error_of(Fn&& fn) {
  try {
    fn();
  } catch (const IoError& e) {
    return e.what();
  } catch (const std::exception& e) {
    FAIL("expected vaegan::IoError, got another exception: " << std::string(e.what()));
  }
  FAIL("expected vaegan::IoError, nothing was thrown");
  return {};
}

#define CHECK_MESSAGE_HAS(msg, text) CHECK_MESSAGE((msg).find(text) != std::string::npos, "message: " << (msg))

}  // namespace

TEST_CASE("idx: plain round trip is exact, header big-endian, file size exact") {
  TempDir dir;
  const IdxImages images = sample_images(7, 5, 3);
  const IdxLabels labels = sample_labels(7);
  const std::string ip = dir.file("images-idx3-ubyte"), lp = dir.file("labels-idx1-ubyte");
  write_idx_images(ip, images);
  write_idx_labels(lp, labels);

  const Bytes raw = read_bytes(ip);
  REQUIRE(raw.size() == 16 + 7 * 5 * 3);
  CHECK(Bytes(raw.begin(), raw.begin() + 16) == idx_header(2051, {7, 5, 3}));
  CHECK(Bytes(raw.begin() + 16, raw.end()) == images.pixels);
  CHECK(read_bytes(lp) == concat(idx_header(2049, {7}), labels.labels));

  const IdxImages back = read_idx_images(ip);
  CHECK(back.count == 7);
  CHECK(back.rows == 5);
  CHECK(back.cols == 3);
  CHECK(back.image_size() == 15);
  CHECK(back.pixels == images.pixels);
  CHECK(read_idx_labels(lp).labels == labels.labels);

  // Writing what was read reproduces the file byte for byte.
  write_idx_images(dir.file("again"), back);
  CHECK(read_bytes(dir.file("again")) == raw);
  // No temporary files are left beside the targets.
  CHECK(dir.entries().size() == 3);
}

TEST_CASE("idx: gzip round trip, detected by content rather than by name") {
  TempDir dir;
  const IdxImages images = sample_images(11, 28, 28);
  const IdxLabels labels = sample_labels(11);
  write_idx_images(dir.file("imgs.gz"), images);
  write_idx_labels(dir.file("labs.gz"), labels);
  const Bytes gz = read_bytes(dir.file("imgs.gz"));
  REQUIRE(gz.size() > 2);
  CHECK(gz[0] == 0x1f);
  CHECK(gz[1] == 0x8b);

  const IdxImages back = read_idx_images(dir.file("imgs.gz"));
  CHECK(back.count == 11);
  CHECK(back.pixels == images.pixels);
  CHECK(read_idx_labels(dir.file("labs.gz")).labels == labels.labels);

  // A gzip file without .gz in its name, and a plain file with it, both read correctly.
  std::filesystem::rename(dir.file("imgs.gz"), dir.file("imgs-no-suffix"));
  CHECK(read_idx_images(dir.file("imgs-no-suffix")).pixels == images.pixels);
  write_idx_images(dir.file("plain"), images);
  std::filesystem::rename(dir.file("plain"), dir.file("plain-but-named.gz"));
  CHECK(read_idx_images(dir.file("plain-but-named.gz")).pixels == images.pixels);
}

TEST_CASE("idx: empty files (count 0) are valid") {
  TempDir dir;
  write_idx_labels(dir.file("l"), IdxLabels{});
  CHECK(read_idx_labels(dir.file("l")).count() == 0);
  write_idx_images(dir.file("i.gz"), sample_images(0, 28, 28));
  CHECK(read_idx_images(dir.file("i.gz")).count == 0);
}

TEST_CASE("idx: a missing file names the path and the fix") {
  TempDir dir;
  const std::string p = dir.file("nope-idx3-ubyte");
  const std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "no such file; check the path");
  CHECK_MESSAGE(msg.find("get_mnist") == std::string::npos, msg);  // the programs' scripts are theirs to name
}

TEST_CASE("idx: truncated payload and truncated header") {
  TempDir dir;
  const std::string p = dir.file("short");
  write_bytes(p, concat(idx_header(2051, {7, 5, 3}), pattern_bytes(100)));
  std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "truncated: header says 7 images of 5x3 (105 bytes)");
  CHECK_MESSAGE_HAS(msg, "holds 100 bytes after the header");

  write_bytes(p, Bytes{0, 0, 8, 3, 0, 0});
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "truncated header");
  CHECK_MESSAGE_HAS(msg, "image count");

  write_bytes(p, Bytes{});
  msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, "before the magic field");

  // Cutting a written file short, as an interrupted download would.
  write_idx_labels(p, sample_labels(50));
  std::filesystem::resize_file(p, 8 + 49);
  msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, "header says 50 labels (50 bytes) but the file holds 49 bytes");
}

TEST_CASE("idx: trailing bytes and counts that disagree with the size") {
  TempDir dir;
  const std::string p = dir.file("long");
  write_bytes(p, concat(idx_header(2049, {10}), pattern_bytes(13)));
  std::string msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "trailing bytes: header says 10 labels (10 bytes)");
  CHECK_MESSAGE_HAS(msg, "(3 extra)");

  // The header's count understates the images by one.
  write_bytes(p, concat(idx_header(2051, {3, 4, 4}), pattern_bytes(4 * 16)));
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "trailing bytes: header says 3 images of 4x4 (48 bytes)");
  CHECK_MESSAGE_HAS(msg, "16 extra");
}

TEST_CASE("idx: wrong magic numbers are explained") {
  TempDir dir;
  const std::string p = dir.file("m");
  // A labels file where images are expected: the paths were swapped.
  write_idx_labels(p, sample_labels(4));
  std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "magic: expected 2051");
  CHECK_MESSAGE_HAS(msg, "got 2049");
  CHECK_MESSAGE_HAS(msg, "swapped");
  CHECK(read_idx_labels(p).count() == 4);  // the right reader accepts it
}

TEST_CASE("idx: wrong magic variants: little-endian, not IDX, non-byte type, wrong rank") {
  TempDir dir;
  const std::string p = dir.file("m");
  write_bytes(p, concat(Bytes{0x03, 0x08, 0, 0}, pattern_bytes(12)));
  std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "little-endian");

  write_bytes(p, Bytes{'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "not an IDX file");

  write_bytes(p, concat(idx_header(0x00000D03, {1, 1, 1}), Bytes{0, 0, 0, 0}));  // float32 images
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "element type 0x0D is not unsigned byte (0x08)");

  write_bytes(p, concat(idx_header(0x00000802, {2, 2}), Bytes{1, 2, 3, 4}));  // a 2-d byte array
  msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, "magic: expected 2049");
  CHECK_MESSAGE_HAS(msg, "2 dimensions where uint8 labels [count] have 1");
}

TEST_CASE("idx: header fields outside the limits") {
  TempDir dir;
  const std::string p = dir.file("lim");
  write_bytes(p, idx_header(2051, {0xFFFFFFFFu, 28, 28}));
  std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "image count: 4294967295 is outside the accepted range 0..100000000");

  write_bytes(p, idx_header(2051, {1, 0, 28}));
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "rows: 0 is outside the accepted range 1..4096");

  write_bytes(p, idx_header(2051, {1, 28, 5000}));
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "cols: 5000 is outside the accepted range 1..4096");

  write_bytes(p, idx_header(2049, {200000000}));
  msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, "label count: 200000000 is outside");
}

TEST_CASE("idx: huge counts in a tiny file fail from the size check, without allocating") {
  // 1e8 images of 4096x4096 claim 1.6 PB: trying to allocate that would throw bad_alloc or
  // length_error, not IoError, so passing here shows no buffer was sized from the header.
  TempDir dir;
  const std::string plain = dir.file("huge"), gz = dir.file("huge.gz");
  const Bytes bytes = concat(idx_header(2051, {100000000, 4096, 4096}), pattern_bytes(10));
  write_bytes(plain, bytes);
  std::string msg = io_error_of([&] { read_idx_images(plain); });
  CHECK_MESSAGE_HAS(msg, plain);
  CHECK_MESSAGE_HAS(msg, "truncated: header says 100000000 images of 4096x4096 (1677721600000000 bytes)");
  CHECK_MESSAGE_HAS(msg, "holds 10 bytes after the header");

  // gzip: the inflated size is unknown, so a claim above the reader's limit (16 GiB) fails
  // at once, and one below it fails once the data runs out, the buffer grown only that far
  // (10 million 28x28 images would be 7.8 GB).
  write_gzip(gz, bytes);
  msg = io_error_of([&] { read_idx_images(gz); });
  CHECK_MESSAGE_HAS(msg, gz);
  CHECK_MESSAGE_HAS(msg, "payload size: header says 100000000 images of 4096x4096 (1677721600000000 bytes)");
  CHECK_MESSAGE_HAS(msg, "limit of 17179869184 bytes");

  write_gzip(gz, concat(idx_header(2051, {10000000, 28, 28}), pattern_bytes(10)));
  msg = io_error_of([&] { read_idx_images(gz); });
  CHECK_MESSAGE_HAS(msg, "truncated: header says 10000000 images of 28x28 (7840000000 bytes)");
  CHECK_MESSAGE_HAS(msg, "the decompressed stream holds 10 bytes after the header");

  write_gzip(gz, concat(idx_header(2049, {100000000}), pattern_bytes(3)));
  msg = io_error_of([&] { read_idx_labels(gz); });
  CHECK_MESSAGE_HAS(msg, "header says 100000000 labels");
}

TEST_CASE("idx: broken gzip files: short content, trailing content, cut stream, bad CRC") {
  TempDir dir;
  const std::string p = dir.file("g.gz");
  write_gzip(p, concat(idx_header(2051, {2, 28, 28}), pattern_bytes(28 * 28 + 5)));
  std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "truncated: header says 2 images of 28x28 (1568 bytes)");
  CHECK_MESSAGE_HAS(msg, "holds 789 bytes");

  write_gzip(p, concat(idx_header(2049, {4}), Bytes{1, 2, 3, 4, 5, 6}));
  msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, "trailing bytes: header says 4 labels (4 bytes)");
  CHECK_MESSAGE_HAS(msg, "at least 2 more bytes");

  // A valid gzip file cut in half, as an interrupted download leaves it.
  write_idx_images(p, sample_images(20, 28, 28));
  const Bytes whole = read_bytes(p);
  write_bytes(p, Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(whole.size() / 2)));
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "truncated");
  CHECK_MESSAGE_HAS(msg, "cut short");

  // Only the 8-byte trailer (CRC32, length) missing: all pixels are there, still rejected.
  write_bytes(p, Bytes(whole.begin(), whole.end() - 8));
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, "truncated gzip file");

  // A flipped bit in the CRC32 of the trailer.
  Bytes bad = whole;
  bad[bad.size() - 8] ^= 0x01;
  write_bytes(p, bad);
  msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "corrupt gzip data");
}

TEST_CASE("idx: an images/labels pair must agree on the count") {
  TempDir dir;
  const std::string ip = dir.file("train-images-idx3-ubyte"), lp = dir.file("train-labels-idx1-ubyte");
  write_idx_images(ip, sample_images(6, 2, 2));
  write_idx_labels(lp, sample_labels(5));
  const std::string msg = io_error_of([&] { read_idx_pair(ip, lp); });
  CHECK_MESSAGE_HAS(msg, ip);
  CHECK_MESSAGE_HAS(msg, lp);
  CHECK_MESSAGE_HAS(msg, "holds 5 labels");
  CHECK_MESSAGE_HAS(msg, "holds 6 images");

  write_idx_labels(lp, sample_labels(6));
  const vaegan::IdxPair pair = read_idx_pair(ip, lp);
  CHECK(pair.images.count == 6);
  CHECK(pair.labels.count() == 6);
}

TEST_CASE("idx: the writer validates its input and never leaves partial files") {
  TempDir dir;
  const std::string p = dir.file("target");
  write_idx_labels(p, sample_labels(3));
  const Bytes before = read_bytes(p);

  IdxImages bad = sample_images(2, 3, 3);
  bad.pixels.pop_back();  // 17 bytes for 2 images of 3x3
  std::string msg = io_error_of([&] { write_idx_images(p, bad); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "pixels holds 17 bytes");
  CHECK(read_bytes(p) == before);

  bad = sample_images(1, 0, 3);
  msg = io_error_of([&] { write_idx_images(p, bad); });
  CHECK_MESSAGE_HAS(msg, "rows/cols 1..4096");

  // An unwritable destination: the error names it and nothing is created.
  const std::string nowhere = dir.file("no-such-dir/target.gz");
  msg = io_error_of([&] { write_idx_labels(nowhere, sample_labels(3)); });
  CHECK_MESSAGE_HAS(msg, nowhere);
  CHECK_MESSAGE_HAS(msg, "check that the directory exists");
  CHECK(dir.entries() == std::vector<std::string>{"target"});

  // Overwriting replaces the file whole.
  write_idx_labels(p, sample_labels(9));
  CHECK(read_idx_labels(p).count() == 9);
  CHECK(dir.entries() == std::vector<std::string>{"target"});
}

// ---- reading from memory, and what fuzzing (tests/fuzz/fuzz_idx.cpp) covers -----------------

TEST_CASE("idx: the *_from_bytes readers parse exactly as the path readers do") {
  TempDir dir;
  const IdxImages images = sample_images(4, 3, 5);
  const IdxLabels labels = sample_labels(4);
  for (const std::string name : {"plain", "packed.gz"}) {
    CAPTURE(name);
    write_idx_images(dir.file("i-" + name), images);
    write_idx_labels(dir.file("l-" + name), labels);
    const Bytes ib = read_bytes(dir.file("i-" + name)), lb = read_bytes(dir.file("l-" + name));
    const IdxImages back = vaegan::read_idx_images_from_bytes(ib.data(), ib.size(), "mem-images");
    CHECK(back.count == 4);
    CHECK(back.rows == 3);
    CHECK(back.cols == 5);
    CHECK(back.pixels == images.pixels);
    CHECK(vaegan::read_idx_labels_from_bytes(lb.data(), lb.size()).labels == labels.labels);
  }
  // The same rejections, naming the label given for the file.
  const Bytes cut = concat(idx_header(2051, {7, 5, 3}), pattern_bytes(100));
  std::string msg = io_error_of([&] { vaegan::read_idx_images_from_bytes(cut.data(), cut.size(), "mem.idx"); });
  CHECK(msg.rfind("mem.idx: truncated: header says 7 images of 5x3 (105 bytes)", 0) == 0);
  msg = io_error_of([&] { vaegan::read_idx_labels_from_bytes(nullptr, 0); });
  CHECK_MESSAGE_HAS(msg, "<memory>: truncated header");
  CHECK_MESSAGE_HAS(msg, "before the magic field");
}

TEST_CASE("idx: a gzip file of several members reads as their concatenation") {
  TempDir dir;
  const Bytes raw = concat(idx_header(2051, {2, 3, 3}), pattern_bytes(18, 5));
  Bytes first, second;
  const Bytes a(raw.begin(), raw.begin() + 10), b(raw.begin() + 10, raw.end());
  REQUIRE(vaegan::detail::gzip_compress(a.data(), a.size(), first));
  REQUIRE(vaegan::detail::gzip_compress(b.data(), b.size(), second));
  const std::string p = dir.file("two-members.gz");
  write_bytes(p, concat(first, second));
  const IdxImages back = read_idx_images(p);
  CHECK(back.count == 2);
  CHECK(back.pixels == Bytes(raw.begin() + 16, raw.end()));

  // A damaged second member is reported as such.
  Bytes bad = concat(first, second);
  bad[first.size() + 12] ^= 0xff;  // inside the second member's deflate data
  write_bytes(p, bad);
  const std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "corrupt gzip data near byte");
  CHECK_MESSAGE_HAS(msg, "in gzip member 2");
}

TEST_CASE("idx: bytes after the last gzip member that are not gzip are rejected") {
  // zlib's gzread ignores them; the reader treats them like trailing bytes after a plain
  // payload: a sign of a damaged or appended-to file.
  TempDir dir;
  const std::string p = dir.file("garbage.gz");
  const Bytes raw = concat(idx_header(2049, {3}), Bytes{1, 2, 3});
  Bytes packed;
  REQUIRE(vaegan::detail::gzip_compress(raw.data(), raw.size(), packed));
  write_bytes(p, concat(packed, Bytes{0, 0, 0, 0}));
  const std::string msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "trailing garbage: the gzip data ends at byte " + std::to_string(packed.size()));
  CHECK_MESSAGE_HAS(msg, "do not start another member");
  // The file without them is fine.
  write_bytes(p, packed);
  CHECK(read_idx_labels(p).labels == Bytes{1, 2, 3});
}

TEST_CASE("idx: corrupt deflate data names where in the compressed file it was found") {
  TempDir dir;
  const std::string p = dir.file("bad.gz");
  Bytes packed;
  const Bytes raw = concat(idx_header(2051, {3, 8, 8}), pattern_bytes(192, 3));
  REQUIRE(vaegan::detail::gzip_compress(raw.data(), raw.size(), packed));
  packed[10] = 0xff;  // the first deflate block header: reserved block type 3
  write_bytes(p, packed);
  const std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "corrupt gzip data near byte 11 of the compressed file");  // the bad byte is at 10
  CHECK_MESSAGE_HAS(msg, "invalid block type");
}

// ---- images with channels: 4-dim files [count, channels, rows, cols] ----------------------

TEST_CASE("idx: images with channels round-trip as a 4-dim file, plain and gzip") {
  TempDir dir;
  IdxImages images = sample_images(3, 4, 5);
  images.channels = 3;
  images.pixels = pattern_bytes(3 * 3 * 4 * 5, 11);
  CHECK(images.image_size() == 20);  // one channel plane
  CHECK(images.values_per_image() == 60);
  for (const std::string name : {"colour-idx", "colour-idx.gz"}) {
    CAPTURE(name);
    const std::string p = dir.file(name);
    write_idx_images(p, images);
    const IdxImages back = read_idx_images(p, vaegan::IdxImageDims::with_channels);
    CHECK(back.count == 3);
    CHECK(back.channels == 3);
    CHECK(back.rows == 4);
    CHECK(back.cols == 5);
    CHECK(back.pixels == images.pixels);
  }
  // The plain file: magic 2052 (0x00000804), count, channels, rows, cols, then the payload.
  const Bytes raw = read_bytes(dir.file("colour-idx"));
  REQUIRE(raw.size() == 20 + 3 * 60);
  CHECK(Bytes(raw.begin(), raw.begin() + 20) == idx_header(2052, {3, 3, 4, 5}));
  CHECK(Bytes(raw.begin() + 20, raw.end()) == images.pixels);
  // Writing what was read reproduces it byte for byte.
  write_idx_images(dir.file("again"), read_idx_images(dir.file("colour-idx"), vaegan::IdxImageDims::with_channels));
  CHECK(read_bytes(dir.file("again")) == raw);
}

TEST_CASE("idx: one channel is written as a 3-dim file; a 4-dim file of one channel reads") {
  TempDir dir;
  const IdxImages gray = sample_images(2, 3, 3);
  REQUIRE(gray.channels == 1);
  write_idx_images(dir.file("gray"), gray);
  const Bytes raw = read_bytes(dir.file("gray"));
  REQUIRE(raw.size() == 16 + 18);
  CHECK(Bytes(raw.begin(), raw.begin() + 16) == idx_header(2051, {2, 3, 3}));
  // Read with channels allowed, a gray file comes back as one channel.
  const IdxImages back = read_idx_images(dir.file("gray"), vaegan::IdxImageDims::with_channels);
  CHECK(back.channels == 1);
  CHECK(back.pixels == gray.pixels);
  // [count, 1, rows, cols] is a gray image set too.
  write_bytes(dir.file("one"), concat(idx_header(2052, {2, 1, 3, 3}), gray.pixels));
  const IdxImages one = read_idx_images(dir.file("one"), vaegan::IdxImageDims::with_channels);
  CHECK(one.channels == 1);
  CHECK(one.rows == 3);
  CHECK(one.pixels == gray.pixels);
}

TEST_CASE("idx: the gray reader refuses a 4-dim file and says what it is") {
  TempDir dir;
  IdxImages images = sample_images(2, 2, 2);
  images.channels = 3;
  images.pixels = pattern_bytes(24);
  const std::string p = dir.file("colour-idx");
  write_idx_images(p, images);
  std::string msg = io_error_of([&] { read_idx_images(p); });
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "expected 2051");
  CHECK_MESSAGE_HAS(msg, "got 2052");
  CHECK_MESSAGE_HAS(msg, "images with channels [count, channels, rows, cols]");
  CHECK_MESSAGE_HAS(msg, "gray images [count, rows, cols] only");
  // As a labels file it is an images file: were the paths swapped?
  msg = io_error_of([&] { read_idx_labels(p); });
  CHECK_MESSAGE_HAS(msg, "this is an IDX images file");
  // And so does read_idx_pair, which ImageDataset's loaders use.
  write_idx_labels(dir.file("labels"), sample_labels(2));
  msg = io_error_of([&] { read_idx_pair(p, dir.file("labels")); });
  CHECK_MESSAGE_HAS(msg, "got 2052");
}

TEST_CASE("idx: a truncated or hostile 4-dim header is refused before any allocation") {
  TempDir dir;
  const std::string p = dir.file("bad-idx");
  const auto error_of = [&](const Bytes& bytes) {
    write_bytes(p, bytes);
    return io_error_of([&] { read_idx_images(p, vaegan::IdxImageDims::with_channels); });
  };
  // Cut inside the header: each field is named.
  const Bytes header = idx_header(2052, {1, 3, 2, 2});
  std::string msg = error_of(Bytes(header.begin(), header.begin() + 10));
  CHECK_MESSAGE_HAS(msg, p);
  CHECK_MESSAGE_HAS(msg, "truncated header");
  CHECK_MESSAGE_HAS(msg, "before the channels field");
  msg = error_of(Bytes(header.begin(), header.begin() + 18));
  CHECK_MESSAGE_HAS(msg, "before the cols field");
  // Out-of-range fields.
  msg = error_of(concat(idx_header(2052, {1, 0, 2, 2}), pattern_bytes(4)));
  CHECK_MESSAGE_HAS(msg, "channels: 0 is outside the accepted range 1..64");
  msg = error_of(concat(idx_header(2052, {1, 65, 2, 2}), pattern_bytes(260)));
  CHECK_MESSAGE_HAS(msg, "channels: 65 is outside the accepted range 1..64");
  msg = error_of(concat(idx_header(2052, {1, 3, 4097, 2}), pattern_bytes(10)));
  CHECK_MESSAGE_HAS(msg, "rows: 4097 is outside");
  msg = error_of(concat(idx_header(2052, {0xFFFFFFFFu, 3, 2, 2}), pattern_bytes(10)));
  CHECK_MESSAGE_HAS(msg, "image count: 4294967295 is outside");
  // A header that claims far more than the file holds, plain and gzip: a message, no
  // allocation of the claimed size (10^8 images of 64x4096x4096 bytes).
  const Bytes huge = concat(idx_header(2052, {100000000, 64, 4096, 4096}), pattern_bytes(10));
  msg = error_of(huge);
  CHECK_MESSAGE_HAS(msg, "truncated: header says 100000000 images of 64x4096x4096");
  write_gzip(p, huge);
  msg = io_error_of([&] { read_idx_images(p, vaegan::IdxImageDims::with_channels); });
  CHECK_MESSAGE_HAS(msg, "payload size: header says 100000000 images of 64x4096x4096");
  CHECK_MESSAGE_HAS(msg, "more than the reader's limit");
  // A payload one byte short, and one byte long.
  msg = error_of(concat(idx_header(2052, {2, 3, 2, 2}), pattern_bytes(23)));
  CHECK_MESSAGE_HAS(msg, "truncated: header says 2 images of 3x2x2 (24 bytes) but the file holds 23 bytes");
  msg = error_of(concat(idx_header(2052, {2, 3, 2, 2}), pattern_bytes(25)));
  CHECK_MESSAGE_HAS(msg, "trailing bytes");
  // Five dimensions are not images.
  msg = error_of(concat(idx_header(2053, {1, 1, 1, 1, 1}), pattern_bytes(1)));
  CHECK_MESSAGE_HAS(msg, "5 dimensions");
}

TEST_CASE("idx: the writer checks channels and the pixel count of images with channels") {
  TempDir dir;
  const std::string p = dir.file("target");
  IdxImages bad = sample_images(2, 3, 3);
  bad.channels = 3;  // 18 bytes where 2 images of 3x3x3 need 54
  std::string msg = io_error_of([&] { write_idx_images(p, bad); });
  CHECK_MESSAGE_HAS(msg, "pixels holds 18 bytes but 2 images of 3x3x3 need 54");
  bad.channels = 0;
  msg = io_error_of([&] { write_idx_images(p, bad); });
  CHECK_MESSAGE_HAS(msg, "channels 1..64");
  CHECK(dir.entries().empty());
}
