// libFuzzer harness for the IDX reader (include/vaegan/data/idx.hpp), plain and gzip.
//
// Each input is one IDX file's bytes, exactly as it would lie on disk: plain, or gzip when
// it starts with 0x1f 0x8b. It is parsed three times, as a gray images file, as an images
// file that may have channels (IdxImageDims::with_channels) and as a labels file, through
// read_idx_*_from_bytes, which share every line of parsing with the path readers.
//
// Expected: the input is accepted, or rejected with vaegan::IoError whose message starts
// with the file's name. A finding: any other exception (also another vaegan::Error, or
// std::bad_alloc from a buffer sized by a header), an IoError that does not name the file,
// an accepted input that breaks an invariant (below), a crash, a sanitizer report, a leak
// or a hang.
//
// Invariants on an accepted input: the counts and sizes are in their documented ranges (the
// gray reader returns one channel only), pixels.size() == count * channels * rows * cols,
// and the input is exactly what the writer would
// write for the result: for a plain input, header + payload byte for byte; for gzip, the
// decompressed stream (the harness inflates it with zlib's own one-shot code) is.
//
// The custom mutator makes the gzip path see structured content: for a gzip input it
// usually inflates it, mutates the decompressed IDX bytes with libFuzzer's mutators and
// deflates them again (with a random level, sometimes split into two gzip members,
// sometimes with the last bytes cut off), so the fuzzer explores headers and payloads
// behind a valid compressed stream; otherwise, and now and then for gzip inputs too, it
// mutates the raw bytes, which explores corrupt deflate data, CRCs and trailers. A plain
// input is sometimes gzip-compressed. Crash reproducers are therefore ordinary IDX files:
// `read_idx_images("crash-...")` reproduces them without the harness.
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <initializer_list>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/data/idx.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

const char* const kLabel = "fuzz-input.idx";
// The most bytes the harness inflates to check an accepted gzip input (deflate expands at
// most ~1032:1, so this covers any input up to 64 KB), and to mutate one inside its gzip.
constexpr std::size_t kMaxInflateCheck = std::size_t{1} << 26;
constexpr std::size_t kMaxInflateMutate = std::size_t{1} << 20;

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "\n*** FINDING in fuzz_idx: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool is_gzip(const std::uint8_t* data, std::size_t size) { return size >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

// zlib's one-shot inflate of every gzip member (independent of the reader's own loop); false
// if the data is not a complete, valid gzip stream or inflates to more than `cap` bytes.
bool gunzip(const std::uint8_t* data, std::size_t size, std::vector<std::uint8_t>& out, std::size_t cap) {
  out.clear();
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return false;
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  std::uint8_t buf[16384];
  bool ok = false;
  for (;;) {
    zs.next_out = buf;
    zs.avail_out = sizeof buf;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), buf, buf + (sizeof buf - zs.avail_out));
    if (out.size() > cap) break;
    if (rc == Z_STREAM_END) {
      if (zs.avail_in == 0) {
        ok = true;
        break;
      }
      if (inflateReset(&zs) != Z_OK) break;  // the next member
      continue;
    }
    if (rc != Z_OK) break;
  }
  inflateEnd(&zs);
  return ok;
}

// gzip of data[0..n) at `level`, appended to out.
void gzip_append(const std::uint8_t* data, std::size_t n, int level, std::vector<std::uint8_t>& out) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  const std::size_t start = out.size();
  out.resize(start + deflateBound(&zs, static_cast<uLong>(n)) + 32);
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(n);
  zs.next_out = out.data() + start;
  zs.avail_out = static_cast<uInt>(out.size() - start);
  if (deflate(&zs, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(start + zs.total_out);
  deflateEnd(&zs);
}

void put_u32_be(std::vector<std::uint8_t>& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(v >> shift));
}

template <class Fn>
void expect_accept_or_ioerror(const char* reader, Fn&& fn) {
  try {
    fn();
  } catch (const vaegan::IoError& e) {
    const std::string msg = e.what();
    if (msg.rfind(std::string(kLabel) + ": ", 0) != 0)
      finding(std::string(reader) + ": IoError that does not start with the file name: " + msg);
  } catch (const vaegan::Error& e) {
    finding(std::string(reader) + ": vaegan::Error that is not an IoError: " + e.what());
  } catch (const std::exception& e) {
    finding(std::string(reader) + ": unexpected exception (not a vaegan::Error): " + e.what());
  } catch (...) {
    finding(std::string(reader) + ": unexpected non-std exception");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // What the input decompresses to, for the exactness invariant; computed lazily.
  bool have_plain = false, plain_ok = false;
  std::vector<std::uint8_t> plain;
  const auto plain_bytes = [&]() -> const std::vector<std::uint8_t>* {
    if (!have_plain) {
      have_plain = true;
      if (is_gzip(data, size)) {
        plain_ok = gunzip(data, size, plain, kMaxInflateCheck);
      } else {
        plain.assign(data, data + size);
        plain_ok = true;
      }
    }
    return plain_ok ? &plain : nullptr;
  };

  for (const vaegan::IdxImageDims accept : {vaegan::IdxImageDims::gray, vaegan::IdxImageDims::with_channels}) {
    expect_accept_or_ioerror("read_idx_images_from_bytes", [&] {
      const vaegan::IdxImages im = vaegan::read_idx_images_from_bytes(data, size, kLabel, accept);
      const vaegan::Index max_channels = accept == vaegan::IdxImageDims::gray ? 1 : vaegan::kIdxMaxChannels;
      if (im.count < 0 || im.count > vaegan::kIdxMaxCount || im.channels < 1 || im.channels > max_channels ||
          im.rows < 1 || im.rows > vaegan::kIdxMaxSide || im.cols < 1 || im.cols > vaegan::kIdxMaxSide)
        finding("accepted images with out-of-range dimensions");
      if (static_cast<std::uint64_t>(im.pixels.size()) !=
          static_cast<std::uint64_t>(im.count) * static_cast<std::uint64_t>(im.values_per_image()))
        finding("accepted images whose pixel count is not count*channels*rows*cols");
      // The header rebuilt from the result, 3 or 4 dims as the input's magic says (the
      // writer itself writes one channel as 3 dims, so it is not called here).
      const std::vector<std::uint8_t>* p = plain_bytes();
      if (p == nullptr) finding("accepted an images file that zlib does not inflate as a complete gzip stream");
      const bool four = p->size() >= 4 && (*p)[3] == 0x04;
      std::vector<std::uint8_t> expected;
      put_u32_be(expected, four ? vaegan::kIdxChannelImagesMagic : vaegan::kIdxImagesMagic);
      put_u32_be(expected, static_cast<std::uint32_t>(im.count));
      if (four) put_u32_be(expected, static_cast<std::uint32_t>(im.channels));
      put_u32_be(expected, static_cast<std::uint32_t>(im.rows));
      put_u32_be(expected, static_cast<std::uint32_t>(im.cols));
      expected.insert(expected.end(), im.pixels.begin(), im.pixels.end());
      if (*p != expected) finding("accepted images differ from the input's (decompressed) bytes");
    });
  }

  expect_accept_or_ioerror("read_idx_labels_from_bytes", [&] {
    const vaegan::IdxLabels lb = vaegan::read_idx_labels_from_bytes(data, size, kLabel);
    if (lb.count() > vaegan::kIdxMaxCount) finding("accepted labels with an out-of-range count");
    std::vector<std::uint8_t> expected;
    put_u32_be(expected, vaegan::kIdxLabelsMagic);
    put_u32_be(expected, static_cast<std::uint32_t>(lb.count()));
    expected.insert(expected.end(), lb.labels.begin(), lb.labels.end());
    const std::vector<std::uint8_t>* p = plain_bytes();
    if (p == nullptr) finding("accepted a labels file that zlib does not inflate as a complete gzip stream");
    if (*p != expected) finding("accepted labels differ from the input's (decompressed) bytes");
  });
  return 0;
}

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::uint64_t state = seed * 0x9E3779B97F4A7C15ULL + 1;
  const auto next = [&state]() -> unsigned {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<unsigned>(state >> 32);
  };
  const bool gz = is_gzip(data, size);
  std::vector<std::uint8_t> content;
  const bool structured =
      gz ? next() % 8 != 0 && gunzip(data, size, content, kMaxInflateMutate)  // mutate inside the gzip
         : next() % 16 == 0;                                                  // compress a plain input
  if (!structured) return LLVMFuzzerMutate(data, size, max_size);
  if (!gz) content.assign(data, data + size);
  if (gz) {
    // Room to grow: twice the content, at least 64 bytes; libFuzzer's mutators stay within it.
    const std::size_t room = std::max<std::size_t>(2 * content.size(), 64);
    const std::size_t n = content.size();
    content.resize(room);
    content.resize(LLVMFuzzerMutate(content.data(), n, room));
  }
  static const int kLevels[] = {0, 1, 6, 9};
  const int level = kLevels[next() % 4];
  std::vector<std::uint8_t> out;
  if (next() % 4 == 0 && content.size() >= 2) {  // two gzip members, split anywhere
    const std::size_t split = next() % content.size();
    gzip_append(content.data(), split, level, out);
    gzip_append(content.data() + split, content.size() - split, level, out);
  } else {
    gzip_append(content.data(), content.size(), level, out);
  }
  if (next() % 8 == 0 && !out.empty()) out.resize(out.size() - 1 - next() % std::min<std::size_t>(out.size(), 12));
  if (out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
  std::memcpy(data, out.data(), out.size());
  return out.size();
}
