#pragma once
// gzip for the dataset files (data/idx.hpp reads and writes them): ByteInput reads a file
// or a buffer front to back, inflating it with zlib when it is gzip-compressed, and
// gzip_compress deflates a buffer with a gzip wrapper.
//
// gzip is recognized by its first two bytes (0x1f 0x8b), never by the file name, so a
// renamed file still works. The stream is decoded one member after another, each checked
// against its CRC-32 and length; a stream that ends inside a member is "cut short"
// (stream_cut()), and bytes after the last member that do not start another one are an
// error. Nothing here sizes a buffer from the data: inflate writes into the caller's
// buffer (at most 1 GiB per zlib call, whose counts are 32-bit) and a file is read 128 KiB
// at a time, so the caller caps what it reads (data/idx.hpp: at the size its header claims).
//
// Needs zlib (link with -lz, or ZLIB::ZLIB in CMake).
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "vaegan/core/error.hpp"

namespace vaegan {

namespace detail {

// One input, plain or gzip, read front to back: a file on disk or bytes in memory. Both go
// through the same code; only where the raw bytes come from differs (fread or a copy out of
// the buffer). Errors are IoErrors "<path>: <problem>"; those about damaged data end with
// `fix`, what the caller tells the user to do about it.
class ByteInput {
 public:
  ByteInput(const std::string& path, std::string fix) : path_(path), fix_(std::move(fix)) {
    file_.reset(std::fopen(path.c_str(), "rb"));
    if (!file_) {
      std::error_code ec;
      const bool exists = std::filesystem::exists(path, ec);
      fail(exists ? "cannot open the file for reading (check its permissions)" : "no such file; check the path");
    }
    unsigned char magic[2] = {0, 0};
    const std::size_t got = std::fread(magic, 1, 2, file_.get());
    std::rewind(file_.get());
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      start_gzip();
      return;
    }
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) fail("cannot determine the file size (" + ec.message() + "); is it a regular file?");
    file_size_ = static_cast<std::uint64_t>(size);
  }
  // `size` bytes at `data`, which must outlive the input; `label` stands for the path in
  // messages.
  ByteInput(const std::uint8_t* data, std::size_t size, std::string label, std::string fix)
      : path_(std::move(label)), fix_(std::move(fix)), mem_(data), mem_size_(size), file_size_(size) {
    if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) start_gzip();
  }
  ByteInput(const ByteInput&) = delete;
  ByteInput& operator=(const ByteInput&) = delete;

  bool gzip() const { return gzip_; }
  // Size of a plain input (the gzip size says nothing about the inflated size).
  std::uint64_t plain_size() const { return file_size_; }
  // What the bytes read come from, for messages.
  const char* kind() const {
    if (!gzip_) return "the file";
    return stream_cut_ ? "the gzip stream, which is cut short," : "the decompressed stream";
  }
  // The gzip data ended inside a member (known once read() has returned less than asked).
  bool stream_cut() const { return stream_cut_; }

  // Reads up to n bytes; fewer only at the end of the data. Throws on a read error or a
  // corrupt gzip stream (bad deflate data, CRC or length mismatch, trailing garbage).
  std::size_t read(void* dst, std::size_t n) {
    auto* out = static_cast<unsigned char*>(dst);
    std::size_t total = 0;
    while (total < n) {
      const std::size_t got = gzip_ ? inflate_some(out + total, n - total) : read_raw(out + total, n - total);
      if (got == 0) break;
      total += got;
    }
    return total;
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw IoError(path_ + ": " + problem); }

  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  // The inflate state; ended by its destructor, also when a constructor throws.
  struct Inflater {
    z_stream zs{};
    bool live = false;
    Inflater() = default;
    Inflater(const Inflater&) = delete;
    Inflater& operator=(const Inflater&) = delete;
    ~Inflater() {
      if (live) inflateEnd(&zs);
    }
  };
  static constexpr std::size_t kInputChunk = std::size_t{1} << 17;    // raw bytes read from a file at a time
  static constexpr std::size_t kMaxZlibCount = std::size_t{1} << 30;  // zlib counts are 32-bit

  void start_gzip() {
    gzip_ = true;
    // 15 + 16: a gzip wrapper (not zlib, not raw deflate), any window size up to 32 KiB.
    if (inflateInit2(&z_.zs, 15 + 16) != Z_OK) fail("cannot start gzip decompression (zlib out of memory)");
    z_.live = true;
    if (file_) in_buf_.resize(kInputChunk);
  }

  // Raw bytes, compressed or not, from the file or the buffer.
  std::size_t read_raw(unsigned char* dst, std::size_t n) {
    if (file_) {
      const std::size_t got = std::fread(dst, 1, n, file_.get());
      if (got == 0 && std::ferror(file_.get())) fail("read error");
      return got;
    }
    const std::size_t got = std::min(n, mem_size_ - mem_pos_);
    if (got > 0) std::memcpy(dst, mem_ + mem_pos_, got);
    mem_pos_ += got;
    return got;
  }

  // Gives inflate more raw input; false when there is none left.
  bool refill() {
    z_stream& zs = z_.zs;
    if (!file_) {
      if (mem_pos_ >= mem_size_) return false;
      const std::size_t n = std::min(mem_size_ - mem_pos_, kMaxZlibCount);
      zs.next_in = const_cast<Bytef*>(mem_ + mem_pos_);
      zs.avail_in = static_cast<uInt>(n);
      mem_pos_ += n;
      raw_total_ += n;
      return true;
    }
    const std::size_t got = read_raw(in_buf_.data(), in_buf_.size());
    zs.next_in = in_buf_.data();
    zs.avail_in = static_cast<uInt>(got);
    raw_total_ += got;
    return got > 0;
  }

  // Where inflate stands in the raw (compressed) bytes, for messages.
  std::uint64_t raw_offset() const { return raw_total_ - z_.zs.avail_in; }

  // Inflates up to n bytes into dst; 0 at the end of the data (complete or cut short).
  std::size_t inflate_some(unsigned char* dst, std::size_t n) {
    if (ended_) return 0;
    z_stream& zs = z_.zs;
    const uInt want = static_cast<uInt>(std::min(n, kMaxZlibCount));
    zs.next_out = dst;
    zs.avail_out = want;
    while (zs.avail_out == want) {
      if (zs.avail_in == 0 && !refill()) {
        // No raw input left: fine after a complete member, cut short inside one.
        if (!member_done_) stream_cut_ = true;
        ended_ = true;
        break;
      }
      if (member_done_) {
        // More bytes after a complete member: another member, or garbage.
        if (zs.next_in[0] != 0x1f)
          fail("trailing garbage: the gzip data ends at byte " + std::to_string(raw_offset()) + " (after gzip member " +
               std::to_string(members_) +
               ") but more bytes follow that do not start another member; the file is damaged; " + fix_);
        inflateReset(&zs);
        member_done_ = false;
        ++members_;
      }
      const int rc = inflate(&zs, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        member_done_ = true;
      } else if (rc != Z_OK) {
        const std::string where = " near byte " + std::to_string(raw_offset()) + " of the compressed file" +
                                  (members_ > 1 ? ", in gzip member " + std::to_string(members_) : std::string());
        if (rc == Z_MEM_ERROR) fail("out of memory while decompressing");
        fail("corrupt gzip data" + where + " (" +
             (rc == Z_NEED_DICT ? std::string("needs a preset dictionary")
                                : std::string(zs.msg ? zs.msg : "unknown zlib error")) +
             "); " + fix_);
      }
    }
    return want - zs.avail_out;
  }

  std::string path_;  // or the label of a buffer
  std::string fix_;
  std::unique_ptr<std::FILE, FileCloser> file_;  // a file, or
  const std::uint8_t* mem_ = nullptr;            // a buffer
  std::size_t mem_size_ = 0;
  std::size_t mem_pos_ = 0;
  std::uint64_t file_size_ = 0;
  bool gzip_ = false;
  Inflater z_;
  std::vector<unsigned char> in_buf_;
  std::uint64_t raw_total_ = 0;  // raw bytes handed to inflate so far
  int members_ = 1;              // the gzip member being read, from 1
  bool member_done_ = false;     // inflate reached the end of the current member
  bool ended_ = false;           // no raw input left
  bool stream_cut_ = false;      // the gzip data ended inside a member
};

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

}  // namespace detail

}  // namespace vaegan
