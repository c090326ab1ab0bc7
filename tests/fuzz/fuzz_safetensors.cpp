// libFuzzer harness for the safetensors reader and loader (io/safetensors_reader.hpp,
// io/safetensors_load.hpp).
//
// Each input is one .safetensors file's bytes, exactly as on disk. The harness
//   1. validates it with SafetensorsReader::from_bytes (the same parsing as the path
//      constructor, which only adds reading the file);
//   2. if accepted, checks the header's invariants (every tensor's offsets inside the buffer,
//      its byte count its shape's, the tensors tiling the buffer) and reads every F32 and F64
//      tensor back with copy_values, which on an accepted file must not throw;
//   3. loads it into a VaeGanTrainer<float> of fuzz::tiny_config(), strict and with
//      allow_unused, and into its decoder alone.
//
// Expected: acceptance, or a vaegan::IoError whose message names the file. A rejected load
// must leave the trainer exactly as it was (checked bit for bit). A finding: any other
// exception, a message without the file name, a changed trainer after a refusal, an
// accessor throwing on an accepted file, a crash, a sanitizer report, a leak or a hang.
//
// The custom mutator keeps the 8-byte length prefix consistent with the JSON that follows
// three times in four (after mutating the header or the buffer alone), so the fuzzer spends
// its time on the header's JSON and offsets rather than on length mismatches. Reproducers
// are ordinary .safetensors files.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_common.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/io/safetensors_load.hpp"
#include "vaegan/io/safetensors_reader.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

const char* const kLabel = "fuzz-input.safetensors";

[[noreturn]] void finding(const std::string& what) {
  std::fprintf(stderr, "\n*** FINDING in fuzz_safetensors: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}

void require_names_file(const vaegan::Error& e, const char* step) {
  if (std::string(e.what()).find(kLabel) == std::string::npos)
    finding(std::string(step) + ": the message does not name the file: " + e.what());
}

using Trainer = vaegan::VaeGanTrainer<float>;

Trainer& trainer() {
  static Trainer t(vaegan::fuzz::tiny_config(), {}, 3);
  return t;
}

std::vector<float> state(Trainer& t) {
  std::vector<float> out;
  for (const auto& n : t.networks()) {
    out.insert(out.end(), n.params->values().data(), n.params->values().data() + n.params->values().numel());
    out.insert(out.end(), n.params->buffers().data(), n.params->buffers().data() + n.params->buffers().numel());
  }
  return out;
}

// Loads into the trainer (or its decoder); a refusal must be an IoError naming the file
// and must change nothing.
template <class Target>
void try_load(const vaegan::SafetensorsReader& r, Target& target, const vaegan::SafetensorsLoadOptions& o,
              const char* step) {
  const std::vector<float> before = state(trainer());
  try {
    vaegan::load_safetensors(r, target, o);
  } catch (const vaegan::IoError& e) {
    require_names_file(e, step);
    const std::vector<float> after = state(trainer());
    if (std::memcmp(before.data(), after.data(), before.size() * sizeof(float)) != 0)
      finding(std::string(step) + ": a refused load changed the weights");
  } catch (const std::exception& e) {
    finding(std::string(step) + ": not an IoError: " + e.what());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::uint8_t> bytes(data, data + size);
  vaegan::SafetensorsReader* reader = nullptr;
  std::unique_ptr<vaegan::SafetensorsReader> owned;
  try {
    owned = std::make_unique<vaegan::SafetensorsReader>(vaegan::SafetensorsReader::from_bytes(bytes, kLabel));
    reader = owned.get();
  } catch (const vaegan::IoError& e) {
    require_names_file(e, "read");
    return 0;
  } catch (const std::exception& e) {
    finding(std::string("read: not an IoError: ") + e.what());
  }

  // The accepted header's invariants, and every float tensor read back.
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  const std::uint64_t buffer = size - 8 - n;
  std::uint64_t total = 0;
  for (const auto& [name, t] : reader->tensors()) {
    if (t.begin > t.end || t.end > buffer) finding("accepted offsets outside the buffer: " + name);
    total += t.end - t.begin;
    if (t.dtype != "F32" && t.dtype != "F64") continue;
    std::vector<double> values(static_cast<std::size_t>(t.numel()));
    try {
      reader->copy_values(name, values.data());
    } catch (const std::exception& e) {
      finding("copy_values threw on an accepted file: " + std::string(e.what()));
    }
  }
  if (total != buffer) finding("accepted tensors that do not tile the buffer");

  vaegan::SafetensorsLoadOptions strict, lenient;
  lenient.allow_unused = true;
  try_load(*reader, trainer(), strict, "load (strict)");
  try_load(*reader, trainer(), lenient, "load (allow_unused)");
  try_load(*reader, trainer().decoder(), strict, "load (decoder)");
  return 0;
}

// Mutates the header or the buffer and, three times in four, rewrites the length prefix to
// the header's new length.
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
  std::srand(seed);
  if (size < 8 || std::rand() % 4 == 0) return LLVMFuzzerMutate(data, size, max_size);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > size - 8) return LLVMFuzzerMutate(data, size, max_size);
  std::vector<std::uint8_t> header(data + 8, data + 8 + n), body(data + 8 + n, data + size);
  std::vector<std::uint8_t>& part = (std::rand() % 4 != 0 || body.empty()) ? header : body;
  const std::size_t room = max_size > size ? max_size - size : 0;
  const std::size_t old = part.size();
  part.resize(old + room);
  part.resize(LLVMFuzzerMutate(part.data(), old, old + room));
  const std::size_t out = 8 + header.size() + body.size();
  if (out > max_size) return LLVMFuzzerMutate(data, size, max_size);
  const auto length = static_cast<std::uint64_t>(header.size());
  for (int i = 0; i < 8; ++i) data[i] = static_cast<std::uint8_t>(length >> (8 * i));
  std::copy(header.begin(), header.end(), data + 8);  // (memcpy of an empty vector's null data is UB)
  std::copy(body.begin(), body.end(), data + 8 + header.size());
  return out;
}
