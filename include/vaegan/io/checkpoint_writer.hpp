#pragma once
// CheckpointWriter: collects named sections, then saves them as one checkpoint file
// (format: io/checkpoint_format.hpp, docs/checkpoint-format.md).
//
// Sections are copied into the writer when added (a deferred section is produced during
// save()). save() streams them to a temporary file in the target's directory, fills in
// the header last, fsyncs and renames it over the target (io/atomic_file.hpp): a crash
// or an exception at any point leaves the previous checkpoint as it was.
#include <cstdint>
#include <exception>
#include <functional>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/checkpoint_format.hpp"

namespace vaegan {

class CheckpointWriter {
 public:
  // Fills a payload while save() runs, for data too large to copy into the writer first.
  // An exception from it aborts the save and leaves the previous file untouched.
  using Producer = std::function<void(std::vector<std::uint8_t>& payload)>;

  void add_bytes(const std::string& name, const void* data, std::size_t n) {
    std::vector<std::uint8_t> p;
    detail::put_bytes(p, data, n);
    add(name, SectionType::bytes, std::move(p));
  }
  void add_bytes(const std::string& name, std::vector<std::uint8_t> bytes) {
    add(name, SectionType::bytes, std::move(bytes));
  }
  void add_deferred_bytes(const std::string& name, Producer produce) {
    add(name, SectionType::bytes, {}, std::move(produce));
  }
  void add_string(const std::string& name, const std::string& value) {
    add(name, SectionType::string, std::vector<std::uint8_t>(value.begin(), value.end()));
  }
  void add_u64(const std::string& name, std::uint64_t v) { add(name, SectionType::u64, le64(v)); }
  void add_i64(const std::string& name, std::int64_t v) {
    add(name, SectionType::i64, le64(static_cast<std::uint64_t>(v)));
  }
  void add_f64(const std::string& name, double v) { add(name, SectionType::f64, le64(detail::f64_bits(v))); }
  // A section copied as it is from another checkpoint (CheckpointReader::type, payload).
  void add_section(const std::string& name, SectionType type, std::vector<std::uint8_t> payload) {
    add(name, type, std::move(payload));
  }

  // A float or double tensor: its shape and its elements, bit for bit.
  template <class T>
  void add_tensor(const std::string& name, const Tensor<T>& t) {
    add_tensor(name, t.data(), t.shape());
  }
  template <class T>
  void add_tensor(const std::string& name, const T* data, const Shape& shape) {
    constexpr SectionType type = detail::tensor_section_type<T>();
    if (shape.rank() < 1) throw Error("CheckpointWriter::add_tensor: section '" + name + "' has no shape");
    std::vector<std::uint8_t> p;
    p.reserve(4 + 8 * static_cast<std::size_t>(shape.rank()) + sizeof(T) * static_cast<std::size_t>(shape.numel()));
    detail::put_u32(p, static_cast<std::uint32_t>(shape.rank()));
    for (int i = 0; i < shape.rank(); ++i) detail::put_u64(p, static_cast<std::uint64_t>(shape[i]));
    detail::put_floats(p, data, static_cast<std::size_t>(shape.numel()));
    add(name, type, std::move(p));
  }

  // Rng::State as a 41-byte bytes section: s[0..3] as u64, spare_normal as f64, has_spare as one byte.
  void add_rng_state(const std::string& name, const Rng::State& st) {
    std::vector<std::uint8_t> p;
    for (const std::uint64_t w : st.s) detail::put_u64(p, w);
    detail::put_u64(p, detail::f64_bits(st.spare_normal));
    p.push_back(st.has_spare ? 1 : 0);
    add(name, SectionType::bytes, std::move(p));
  }

  bool has(const std::string& name) const {
    for (const auto& s : sections_)
      if (s.name == name) return true;
    return false;
  }
  std::size_t num_sections() const { return sections_.size(); }

  // Writes the checkpoint to `path` atomically; throws IoError (the old file is then intact).
  void save(const std::string& path) const {
    namespace fmt = checkpoint_format;
    detail::AtomicFile file(path, "CheckpointWriter::save");
    file.write(std::vector<std::uint8_t>(fmt::kHeaderBytes, 0));  // filled in once the size is known
    std::uint32_t body_crc = 0;
    std::vector<std::uint8_t> record, produced;
    for (const Section& s : sections_) {
      const std::vector<std::uint8_t>* payload = &s.payload;
      if (s.produce) {
        produced.clear();
        try {
          s.produce(produced);
        } catch (const std::exception& e) {
          throw IoError("CheckpointWriter::save: producing section '" + s.name + "' for '" + path +
                        "' failed: " + e.what() + "; nothing was written, any previous '" + path + "' is unchanged");
        }
        payload = &produced;
      }
      record.clear();
      detail::put_u32(record, static_cast<std::uint32_t>(s.name.size()));
      detail::put_bytes(record, s.name.data(), s.name.size());
      detail::put_u32(record, static_cast<std::uint32_t>(s.type));
      detail::put_u64(record, payload->size());
      const std::uint32_t crc =
          detail::crc32_update(detail::crc32_of(record.data(), record.size()), payload->data(), payload->size());
      const std::size_t head = record.size();
      detail::put_u32(record, crc);
      // Order in the file: head, payload, CRC.
      file.write(record.data(), head);
      file.write(payload->data(), payload->size());
      file.write(record.data() + head, 4);
      body_crc = detail::crc32_update(body_crc, record.data(), head);
      body_crc = detail::crc32_update(body_crc, payload->data(), payload->size());
      body_crc = detail::crc32_update(body_crc, record.data() + head, 4);
    }
    std::vector<std::uint8_t> trailer(fmt::kEndMarker, fmt::kEndMarker + 8);
    body_crc = detail::crc32_update(body_crc, trailer.data(), trailer.size());
    detail::put_u32(trailer, body_crc);
    file.write(trailer);

    std::vector<std::uint8_t> header(fmt::kMagic, fmt::kMagic + 8);
    detail::put_u32(header, fmt::kVersion);
    detail::put_u32(header, static_cast<std::uint32_t>(sections_.size()));
    detail::put_u64(header, file.size());
    detail::put_u32(header, 0);  // flags
    detail::put_u32(header, detail::crc32_of(header.data(), header.size()));
    file.seek(0);
    file.write(header);
    file.commit();
  }

 private:
  struct Section {
    std::string name;
    SectionType type;
    std::vector<std::uint8_t> payload;
    Producer produce;
  };

  static std::vector<std::uint8_t> le64(std::uint64_t v) {
    std::vector<std::uint8_t> p;
    detail::put_u64(p, v);
    return p;
  }

  void add(const std::string& name, SectionType type, std::vector<std::uint8_t> payload, Producer produce = {}) {
    if (name.empty() || name.size() > checkpoint_format::kMaxNameBytes || name.find('\0') != std::string::npos)
      throw Error("CheckpointWriter: section name '" + name + "' must be 1 to 255 bytes without NUL characters");
    if (has(name)) throw Error("CheckpointWriter: section '" + name + "' was added twice; names must be unique");
    if (sections_.size() >= 0xffffffffu) throw Error("CheckpointWriter: too many sections");
    sections_.push_back(Section{name, type, std::move(payload), std::move(produce)});
  }

  std::vector<Section> sections_;
};

}  // namespace vaegan
