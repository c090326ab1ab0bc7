#pragma once
// CheckpointReader: loads and validates a checkpoint file, then hands out its sections
// by name with type, dtype and shape checks (format: io/checkpoint_format.hpp).
//
// Nothing is trusted before it is checked: the file size against a limit and against
// the header (before the file is read), magic, version, header CRC, then each section's
// bounds (before anything is allocated from a length field), CRC, type and payload
// size. Every failure is an IoError naming the file, the section where there is one, and
// the problem: truncated, bit flip (CRC mismatch), version mismatch, missing section,
// dtype mismatch, shape mismatch.
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/checkpoint_format.hpp"

namespace vaegan {

class CheckpointReader {
 public:
  // Reads and validates the whole file; throws IoError if anything is wrong with it.
  explicit CheckpointReader(std::string path, std::uint64_t max_bytes = checkpoint_format::kDefaultMaxFileBytes)
      : path_(std::move(path)) {
    load_file(max_bytes);
    parse();
  }
  // Validates a checkpoint already in memory; `label` stands for the path in messages.
  static CheckpointReader from_bytes(std::vector<std::uint8_t> bytes, std::string label = "<memory>") {
    return CheckpointReader(std::move(bytes), std::move(label));
  }

  const std::string& path() const { return path_; }
  std::size_t num_sections() const { return entries_.size(); }
  bool has(const std::string& name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& e : entries_) out.push_back(e.name);
    return out;
  }
  SectionType type(const std::string& name) const { return entry(name).type; }
  // A section's payload as stored, whatever its type: to copy it into another checkpoint
  // unchanged (CheckpointWriter::add_section).
  std::vector<std::uint8_t> payload(const std::string& name) const {
    const Entry& e = entry(name);
    return std::vector<std::uint8_t>(data(e), data(e) + e.length);
  }

  std::vector<std::uint8_t> bytes(const std::string& name) const {
    const Entry& e = expect(name, SectionType::bytes);
    return std::vector<std::uint8_t>(data(e), data(e) + e.length);
  }
  std::string str(const std::string& name) const {
    const Entry& e = expect(name, SectionType::string);
    return std::string(reinterpret_cast<const char*>(data(e)), static_cast<std::size_t>(e.length));
  }
  std::uint64_t u64(const std::string& name) const { return detail::get_u64(data(expect(name, SectionType::u64))); }
  std::int64_t i64(const std::string& name) const {
    return static_cast<std::int64_t>(detail::get_u64(data(expect(name, SectionType::i64))));
  }
  double f64(const std::string& name) const {
    return detail::f64_from_bits(detail::get_u64(data(expect(name, SectionType::f64))));
  }

  Shape tensor_shape(const std::string& name) const {
    const Entry& e = entry(name);
    if (e.type != SectionType::tensor_f32 && e.type != SectionType::tensor_f64)
      fail("section '" + name + "' holds a " + section_type_name(e.type) + ", not a tensor");
    return e.shape;
  }
  // The tensor stored as `name`, which must be a tensor<T> of shape `expected`.
  template <class T>
  Tensor<T> tensor(const std::string& name, const Shape& expected) const {
    Tensor<T> t(expected);
    read_tensor(name, t);
    return t;
  }
  // Fills `into` (e.g. a network's flat parameter buffer) in place; its shape is the one
  // expected.
  template <class T>
  void read_tensor(const std::string& name, Tensor<T>& into) const {
    const Entry& e = expect_tensor<T>(name);
    if (e.shape != into.shape())
      fail("section '" + name + "': shape mismatch: file has " + e.shape.str() + ", model expects " +
           into.shape().str() + " (was the checkpoint saved with a different model preset or latent size?)");
    detail::get_floats(data(e) + 4 + 8 * static_cast<std::size_t>(e.shape.rank()), into.data(),
                       static_cast<std::size_t>(into.numel()));
  }

  Rng::State rng_state(const std::string& name) const {
    const Entry& e = expect(name, SectionType::bytes);
    if (e.length != 41)
      fail("section '" + name + "' has " + std::to_string(e.length) +
           " bytes; an Rng::State is 41 (was it written by add_rng_state?)");
    Rng::State st;
    for (std::size_t i = 0; i < 4; ++i) st.s[i] = detail::get_u64(data(e) + 8 * i);
    st.spare_normal = detail::f64_from_bits(detail::get_u64(data(e) + 32));
    const std::uint8_t has_spare = data(e)[40];
    // What no Rng can be in: an all-zero state (xoshiro256 would return 0 forever), a
    // non-finite spare normal, a flag other than 0 or 1.
    if ((st.s[0] | st.s[1] | st.s[2] | st.s[3]) == 0)
      fail("section '" + name + "': the four Rng state words are all zero, a state no generator reaches");
    if (has_spare > 1)
      fail("section '" + name + "': has_spare (byte 40) is " + std::to_string(has_spare) + "; expected 0 or 1");
    if (!std::isfinite(st.spare_normal))
      fail("section '" + name + "': spare_normal (bytes 32..39) is " + std::to_string(st.spare_normal) +
           "; expected a finite number");
    st.has_spare = has_spare != 0;
    return st;
  }

 private:
  struct Entry {
    std::string name;
    SectionType type;
    std::size_t offset;  // of the payload in buf_
    std::uint64_t length;
    Shape shape;  // tensors only
  };

  CheckpointReader(std::vector<std::uint8_t> bytes, std::string label)
      : path_(std::move(label)), buf_(std::move(bytes)) {
    check_header(buf_.data(), buf_.size(), buf_.size());
    parse();
  }

  [[noreturn]] void fail(const std::string& what) const { throw IoError("checkpoint '" + path_ + "': " + what); }
  [[noreturn]] void corrupt(const std::string& what) const {
    fail(what + (body_crc_ok_ ? "" : "; the file's overall CRC does not match either") +
         " — the file is damaged; restore it from a backup or retrain");
  }

  const std::uint8_t* data(const Entry& e) const { return buf_.data() + e.offset; }
  const Entry* find(const std::string& name) const {
    for (const auto& e : entries_)
      if (e.name == name) return &e;
    return nullptr;
  }
  const Entry& entry(const std::string& name) const {
    if (const Entry* e = find(name)) return *e;
    std::string present;
    for (std::size_t i = 0; i < entries_.size() && i < 30; ++i) present += (i ? ", " : "") + entries_[i].name;
    if (entries_.size() > 30) present += ", ...";
    fail("missing section '" + name + "' (the file has: " + (present.empty() ? "no sections" : present) + ")");
  }
  const Entry& expect(const std::string& name, SectionType type) const {
    const Entry& e = entry(name);
    if (e.type != type)
      fail("section '" + name + "' holds a " + section_type_name(e.type) + ", but a " + section_type_name(type) +
           " was requested");
    return e;
  }
  template <class T>
  const Entry& expect_tensor(const std::string& name) const {
    constexpr SectionType want = detail::tensor_section_type<T>();
    const Entry& e = entry(name);
    if (e.type != want)
      fail("section '" + name + "': dtype mismatch: the file has a " + section_type_name(e.type) +
           ", the model asks for a " + section_type_name(want) +
           " (load it into a model of the scalar type it was saved with)");
    return e;
  }

  // Size, magic, version, header CRC and declared size; `available` bytes of the header are at p.
  void check_header(const std::uint8_t* p, std::size_t available, std::uint64_t file_size) const {
    namespace fmt = checkpoint_format;
    if (available > 0 && std::memcmp(p, fmt::kMagic, std::min<std::size_t>(available, 8)) != 0)
      fail("not a vaegan checkpoint (it does not start with \"VAEGANCK\")");
    if (available < fmt::kHeaderBytes)
      fail("truncated: the file has " + std::to_string(file_size) + " bytes, less than the " +
           std::to_string(fmt::kHeaderBytes) + "-byte header (the save was interrupted or the copy is incomplete)");
    const std::uint32_t version = detail::get_u32(p + 8);
    if (version != fmt::kVersion)
      fail("version mismatch: the file has checkpoint format version " + std::to_string(version) +
           ", this build reads version " + std::to_string(fmt::kVersion) +
           " (use the vaegan version that wrote it, or re-save it with one that reads both)");
    if (detail::get_u32(p + 28) != detail::crc32_of(p, 28))
      fail("bit flip (CRC mismatch) in the file header — the file is damaged; restore it from a backup or retrain");
    if (const std::uint32_t flags = detail::get_u32(p + 24))
      fail("unknown header flags " + std::to_string(flags) + " (written by a newer build?)");
    const std::uint64_t declared = detail::get_u64(p + 16);
    if (file_size < declared)
      fail("truncated: the file has " + std::to_string(file_size) + " bytes but its header says " +
           std::to_string(declared) + " (the save was interrupted or the copy is incomplete)");
    if (file_size > declared)
      fail("the file has " + std::to_string(file_size) + " bytes but its header says " + std::to_string(declared) +
           "; " + std::to_string(file_size - declared) + " unexpected bytes follow the checkpoint");
  }

  void load_file(std::uint64_t max_bytes) {
    namespace fmt = checkpoint_format;
    std::error_code ec;
    const std::uintmax_t size = std::filesystem::file_size(path_, ec);
    if (ec) fail("cannot open: " + ec.message() + " (check the path)");
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    if (!f) fail("cannot open: " + detail::errno_message(errno));
    std::uint8_t header[fmt::kHeaderBytes];
    const std::size_t got = std::fread(header, 1, sizeof(header), f);
    try {
      check_header(header, got, size);  // before reading more, so a bogus size allocates nothing
      if (size > max_bytes)
        fail("the file is " + std::to_string(size) + " bytes, more than the load limit of " +
             std::to_string(max_bytes) + " bytes (pass a larger max_bytes to CheckpointReader if this is intended)");
      buf_.resize(static_cast<std::size_t>(size));
      std::memcpy(buf_.data(), header, fmt::kHeaderBytes);
      const std::size_t rest = buf_.size() - fmt::kHeaderBytes;
      if (std::fread(buf_.data() + fmt::kHeaderBytes, 1, rest, f) != rest)
        fail("truncated: the file shrank while it was being read (is another process writing it?)");
    } catch (...) {
      std::fclose(f);
      throw;
    }
    std::fclose(f);
  }

  // Walks the sections, checking bounds before every read and each CRC; the header
  // (and so the buffer size) has been validated already.
  void parse() {
    namespace fmt = checkpoint_format;
    const std::uint8_t* p = buf_.data();
    const std::size_t end = buf_.size() - fmt::kTrailerBytes;  // where the trailer starts
    if (buf_.size() < fmt::kHeaderBytes + fmt::kTrailerBytes)
      corrupt("the file is too small to hold a header and a trailer");
    body_crc_ok_ = detail::get_u32(p + buf_.size() - 4) ==
                   detail::crc32_of(p + fmt::kHeaderBytes, buf_.size() - 4 - fmt::kHeaderBytes);
    const std::uint32_t count = detail::get_u32(p + 12);
    std::size_t pos = fmt::kHeaderBytes;
    for (std::uint32_t i = 0; i < count; ++i) {
      const std::string where = "section #" + std::to_string(i);
      if (end - pos < 4) corrupt(where + " starts past the end of the section area");
      const std::uint32_t name_len = detail::get_u32(p + pos);
      if (name_len < 1 || name_len > fmt::kMaxNameBytes)
        corrupt(where + " has a name length of " + std::to_string(name_len) + " (allowed 1 to 255)");
      if (end - pos < 4 + name_len + 4 + 8) corrupt(where + " runs past the end of the section area");
      const std::string name(reinterpret_cast<const char*>(p + pos + 4), name_len);
      const std::uint32_t tag = detail::get_u32(p + pos + 4 + name_len);
      const std::uint64_t length = detail::get_u64(p + pos + 8 + name_len);
      const std::size_t payload = pos + 16 + name_len;
      if (length > end - payload || end - payload - length < 4)
        corrupt("section '" + name + "' claims " + std::to_string(length) + " payload bytes, more than the file holds");
      const std::size_t crc_at = payload + static_cast<std::size_t>(length);
      if (detail::get_u32(p + crc_at) != detail::crc32_of(p + pos, crc_at - pos))
        corrupt("bit flip (CRC mismatch) in section '" + name + "'");
      if (!is_known_section_type(tag))
        fail("section '" + name + "' has type tag " + std::to_string(tag) + ", which this build does not know");
      if (find(name)) corrupt("section '" + name + "' appears twice");
      Entry e{name, static_cast<SectionType>(tag), payload, length, Shape{}};
      check_payload(e);
      entries_.push_back(std::move(e));
      pos = crc_at + 4;
    }
    if (pos != end)
      corrupt(std::to_string(end - pos) + " bytes between the last of the " + std::to_string(count) +
              " sections and the trailer");
    if (std::memcmp(p + end, fmt::kEndMarker, 8) != 0) corrupt("the end marker \"VGCK-END\" is missing");
    if (!body_crc_ok_) corrupt("bit flip (CRC mismatch) in the trailer");
  }

  // Payload sizes fixed by the type: 8 for scalars, header + numel * element for tensors.
  void check_payload(Entry& e) const {
    const std::uint8_t* d = data(e);
    switch (e.type) {
      case SectionType::u64:
      case SectionType::i64:
      case SectionType::f64:
        if (e.length != 8) fail("section '" + e.name + "': a scalar needs 8 bytes, found " + std::to_string(e.length));
        return;
      case SectionType::tensor_f32:
      case SectionType::tensor_f64: {
        const std::uint64_t elem = e.type == SectionType::tensor_f32 ? 4 : 8;
        const std::uint32_t rank = e.length >= 4 ? detail::get_u32(d) : 0;
        if (rank < 1 || rank > checkpoint_format::kMaxTensorRank || e.length < 4 + 8ull * rank)
          fail("section '" + e.name + "': tensor rank " + std::to_string(rank) + " is outside 1..4");
        std::uint64_t dims[4] = {0, 0, 0, 0};
        // The product of the non-zero dimensions never exceeds the payload length, so it
        // cannot overflow; and it bounds every dimension, also those after a zero one (an
        // empty tensor may not claim a dimension of 2^63, which is no valid Shape).
        std::uint64_t nonzero = 1;
        bool empty = false;
        for (std::uint32_t k = 0; k < rank; ++k) {
          dims[k] = detail::get_u64(d + 4 + 8 * std::size_t{k});
          if (dims[k] == 0) {
            empty = true;
            continue;
          }
          if (nonzero > e.length / dims[k])
            fail("section '" + e.name + "': tensor dimension " + std::to_string(k) + " is " + std::to_string(dims[k]) +
                 ", which does not fit its payload of " + std::to_string(e.length) + " bytes");
          nonzero *= dims[k];
        }
        const std::uint64_t numel = empty ? 0 : nonzero;
        if (e.length != 4 + 8ull * rank + numel * elem)
          fail("section '" + e.name + "': payload is " + std::to_string(e.length) + " bytes, its shape needs " +
               std::to_string(4 + 8ull * rank + numel * elem));
        const auto I = [&](int k) { return static_cast<Index>(dims[k]); };
        e.shape = rank == 1   ? Shape{I(0)}
                  : rank == 2 ? Shape{I(0), I(1)}
                  : rank == 3 ? Shape{I(0), I(1), I(2)}
                              : Shape{I(0), I(1), I(2), I(3)};
        return;
      }
      default: return;
    }
  }

  std::string path_;
  std::vector<std::uint8_t> buf_;
  std::vector<Entry> entries_;
  bool body_crc_ok_ = true;
};

// The networks of a training checkpoint, in slot order: the "trainer.networks" section
// (comma-separated names, written since the checkpoint recorded them), else, in older
// files, the names of the "<network>.structure" sections in file order. Code that reads a
// checkpoint's networks asks the file, never a list of trainer kinds, so a new trainer's
// checkpoints export and import without changes here.
inline std::vector<std::string> checkpoint_networks(const CheckpointReader& r) {
  std::vector<std::string> out;
  if (r.has("trainer.networks")) {
    const std::string list = r.str("trainer.networks");
    for (std::size_t start = 0; start <= list.size();) {
      const std::size_t comma = list.find(',', start);
      const std::string name = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (name.empty())
        throw IoError("checkpoint '" + r.path() + "': section 'trainer.networks' ('" + list +
                      "') has an empty network name (the file is damaged)");
      out.push_back(name);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }
  const std::string suffix = ".structure";
  for (const std::string& name : r.names())
    if (name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
      out.push_back(name.substr(0, name.size() - suffix.size()));
  return out;
}

}  // namespace vaegan
