// Tests of weights in (io/safetensors_reader.hpp, io/safetensors_load.hpp): a round trip
// C++ -> safetensors -> C++ is bit-exact, one network comes out of a trainer's file, F64
// files load, and hostile or mismatched files are refused with a message naming the file,
// the tensor and the problem, before anything is allocated from their fields or written
// into the networks.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "temp_dir.hpp"
#include "train/train_test_util.hpp"
#include "vaegan/io/checkpoint_import.hpp"
#include "vaegan/io/safetensors.hpp"
#include "vaegan/io/safetensors_load.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

namespace {

using namespace vaegan;
using namespace vaegan::train_test;
using Bytes = std::vector<std::uint8_t>;

// Three steps, so weights and running statistics are not initial.
void train_a_little(VaeGanTrainer<float>& t, std::uint64_t seed) {
  const Tensor<float> flat = binary_images<float>(6, 64, seed);
  Tensor<float> batch(Shape{6, 1, 8, 8});
  std::copy(flat.data(), flat.data() + flat.numel(), batch.data());
  for (int i = 0; i < 3; ++i) t.train_step(batch);
}

#define TRAINED(name, seed)                                 \
  VaeGanTrainer<float> name(small_conv_config(), {}, seed); \
  train_a_little(name, seed)

// A safetensors file from a header's JSON and the buffer's bytes.
Bytes file_of(const std::string& json, const Bytes& buffer) {
  Bytes out(8);
  const auto n = static_cast<std::uint64_t>(json.size());
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  out.insert(out.end(), json.begin(), json.end());
  out.insert(out.end(), buffer.begin(), buffer.end());
  return out;
}

std::string refusal(const Bytes& bytes) {
  try {
    SafetensorsReader::from_bytes(bytes, "hostile.safetensors");
  } catch (const IoError& e) {
    return e.what();
  }
  return "accepted";
}

bool same_values(const VaeGanTrainer<float>& a, const VaeGanTrainer<float>& b) {
  for (std::size_t i = 0; i < a.networks().size(); ++i)
    if (!bit_identical(a.networks()[i].params->values(), b.networks()[i].params->values()) ||
        !bit_identical(a.networks()[i].params->buffers(), b.networks()[i].params->buffers()))
      return false;
  return true;
}

}  // namespace

TEST_CASE("load_safetensors: export, load into other weights and export again is bit-exact") {
  TRAINED(a, 3);
  TRAINED(b, 8);
  REQUIRE_FALSE(same_values(a, b));
  const Bytes exported = safetensors_from_trainer(a).bytes();
  load_safetensors(SafetensorsReader::from_bytes(exported, "a.safetensors"), b);
  CHECK(same_values(a, b));
  CHECK(safetensors_from_trainer(b).bytes() == exported);

  vaegan_test::TempDir dir;  // and through a file on disk
  const std::string path = dir.file("a.safetensors");
  export_safetensors(path, a);
  TRAINED(c, 11);
  load_safetensors(path, c);
  CHECK(same_values(a, c));
}

TEST_CASE("load_safetensors: one network from a trainer's file, by its own name or a prefix") {
  TRAINED(a, 3);
  const SafetensorsReader r = SafetensorsReader::from_bytes(safetensors_from_trainer(a).bytes(), "a.safetensors");
  Decoder<float> decoder = conv_decoder<float>(small_conv_config());
  load_safetensors(r, decoder);  // "decoder.*"; the encoder's and discriminator's tensors are not its business
  CHECK(bit_identical(decoder.parameters().values(), a.decoder().parameters().values()));
  CHECK(bit_identical(decoder.parameters().buffers(), a.decoder().parameters().buffers()));

  // A GAN's generator is a decoder named "generator": the VAE-GAN's decoder loads into it by prefix.
  GanTrainer<float> gan(small_conv_config(), {}, 5);
  SafetensorsLoadOptions from_decoder;
  from_decoder.prefix = "decoder";
  load_safetensors(r, gan.generator(), from_decoder);
  CHECK(bit_identical(gan.generator().parameters().values(), a.decoder().parameters().values()));
  Tensor<float> z(Shape{4, 3}), x1, x2;
  Rng(4).fill_normal(z.data(), z.numel());
  gan.generate(z, x1);
  a.generate(z, x2);
  CHECK(bit_identical(x1, x2));
}

TEST_CASE("load_safetensors: F64 tensors load, transposed back; other dtypes are refused naming the conversion") {
  // A file written by hand, as PyTorch would write a float64 state dict: every tensor of a
  // dense decoder in PyTorch's layout, value k at flat position k of the file's buffer.
  Decoder<double> decoder = dense_decoder<double>(tiny_config());
  const NetworkStructure s = decoder.structure();
  std::string json = "{";
  Bytes buffer;
  double next = 0.0;
  auto add = [&](const ParameterSlice& slice) {
    std::vector<std::int64_t> dims;
    for (int i = 0; i < slice.shape.rank(); ++i) dims.push_back(static_cast<std::int64_t>(slice.shape[i]));
    if (slice.torch_layout == TorchLayout::transposed) std::swap(dims[0], dims[1]);
    const std::size_t begin = buffer.size();
    for (Index k = 0; k < slice.shape.numel(); ++k, next += 1.0) {
      std::uint64_t bits;
      std::memcpy(&bits, &next, 8);
      for (int i = 0; i < 8; ++i) buffer.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
    }
    std::string shape = "[";
    for (std::size_t i = 0; i < dims.size(); ++i) shape += (i ? "," : "") + std::to_string(dims[i]);
    json += std::string(json.size() > 1 ? "," : "") + "\"decoder." + slice.name +
            "\":{\"dtype\":\"F64\",\"shape\":" + shape + "],\"data_offsets\":[" + std::to_string(begin) + "," +
            std::to_string(buffer.size()) + "]}";
  };
  for (const ParameterSlice& p : s.parameters) add(p);
  for (const ParameterSlice& b : s.buffers) add(b);
  json += "}";
  load_safetensors(SafetensorsReader::from_bytes(file_of(json, buffer), "f64.safetensors"), decoder);
  const Tensor<double>& v = decoder.parameters().values();
  double base = 0.0;
  Index transposed = 0;
  for (const ParameterSlice& p : s.parameters) {
    INFO(p.name);
    if (p.torch_layout == TorchLayout::transposed) {
      ++transposed;
      const Index in = p.shape[0], out = p.shape[1];  // stored [in, out]; the file's [out, in]
      for (Index i = 0; i < in; ++i)
        for (Index o = 0; o < out; ++o) CHECK(v[p.offset + i * out + o] == base + static_cast<double>(o * in + i));
    } else {
      for (Index k = 0; k < p.shape.numel(); ++k) CHECK(v[p.offset + k] == base + static_cast<double>(k));
    }
    base += static_cast<double>(p.shape.numel());
  }
  CHECK(transposed == 2);

  std::string bf16 =
      "{\"decoder." + s.parameters[0].name + "\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[0,2]}}";
  const SafetensorsReader half = SafetensorsReader::from_bytes(file_of(bf16, Bytes(2, 0)), "bf16.safetensors");
  CHECK_THROWS_WITH_AS(load_safetensors(half, decoder), doctest::Contains("is BF16; vaegan reads F32 and F64 (convert"),
                       IoError);
}

TEST_CASE("load_safetensors: a missing, misshapen or extra tensor is refused and the trainer is left as it was") {
  TRAINED(a, 3);
  TRAINED(b, 8);
  TRAINED(before, 8);
  const SafetensorsWriter full = safetensors_from_trainer(a);
  auto load = [&](const SafetensorsWriter& w, const SafetensorsLoadOptions& o = {}) {
    load_safetensors(SafetensorsReader::from_bytes(w.bytes(), "x.safetensors"), b, o);
  };

  // A GAN's file: no encoder, and its generator is not a decoder.
  GanTrainer<float> gan(small_conv_config(), {}, 1);
  CHECK_THROWS_WITH_AS(load(safetensors_from_trainer(gan)), doctest::Contains("has no tensor 'encoder."), IoError);
  CHECK(same_values(b, before));

  // Every tensor of the trainer plus one: refused, unless asked.
  SafetensorsWriter extra = safetensors_from_trainer(a);
  const float one = 1.0f;
  extra.add_tensor("decoder.net.99.weight", {1}, &one);
  CHECK_THROWS_WITH_AS(load(extra), doctest::Contains("1 tensor(s) no network takes: 'decoder.net.99.weight'"),
                       IoError);
  CHECK(same_values(b, before));
  SafetensorsLoadOptions lenient;
  lenient.allow_unused = true;
  load(extra, lenient);
  CHECK(same_values(b, a));

  // Another architecture: the conv preset with other widths.
  ModelConfig wider = small_conv_config();
  wider.decoder_hidden = {4, 2};
  VaeGanTrainer<float> other(wider, {}, 1);
  TRAINED(c, 8);
  CHECK_THROWS_WITH_AS(load_safetensors(SafetensorsReader::from_bytes(safetensors_from_trainer(other).bytes(), "w"), c),
                       doctest::Contains("has shape [16, 3] but the decoder's parameter needs [12, 3]"), IoError);
  CHECK(same_values(c, before));
}

TEST_CASE("SafetensorsReader: hostile headers and offsets are refused before any tensor is read") {
  const Bytes four(4, 0);
  const std::string ok = "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
  CHECK(refusal(file_of(ok, four)) == "accepted");
  CHECK(refusal(file_of(ok + "    ", four)) == "accepted");  // padding
  CHECK(refusal(file_of("{}", {})) == "accepted");           // no tensors at all

  struct Case {
    const char* what;
    Bytes bytes;
    const char* message;
  };
  Bytes huge_length(8, 0xff);
  Bytes too_long = file_of(ok, four);
  too_long[0] = 200;  // the header length says more than follows
  const std::vector<Case> cases = {
      {"empty file", {}, "too short for the 8-byte header length"},
      {"length over the limit", huge_length, "more than the format's limit of 100 MB"},
      {"length past the end", too_long, "only"},
      {"not JSON", file_of("[1,2]", {}), "expected '{'"},
      {"trailing bytes", file_of(ok + " x", four), "bytes after its JSON object"},
      {"duplicate tensor",
       file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
               "\"t\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
               four),
       "names tensor 't' twice"},
      {"unknown field", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", four),
       "unknown field \"x\""},
      {"negative dim", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", four),
       "non-negative integer"},
      {"fraction", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", four),
       "must be an integer"},
      {"leading zero", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[01],\"data_offsets\":[0,4]}}", four),
       "leading zero"},
      {"huge number",
       file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}", four),
       "too large"},
      {"missing field", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[1]}}", four), "lacks one of"},
      {"unknown dtype", file_of("{\"t\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", four),
       "unknown dtype 'F33'"},
      {"size mismatch", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", Bytes(8, 0)),
       "make 4 bytes but data_offsets span 8"},
      {"shape overflow",
       file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", four),
       "more bytes than the file's buffer"},
      {"offsets past the buffer", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", four),
       "lie outside the buffer"},
      {"overlap",
       file_of("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
               four),
       "overlap at byte 0"},
      {"gap", file_of("{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", Bytes(8, 0)),
       "belong to no tensor"},
      {"tail", file_of(ok, Bytes(8, 0)), "bytes after the last tensor"},
      {"metadata not strings", file_of("{\"__metadata__\":{\"k\":1}}", {}), "is not a string"},
      {"control character", file_of("{\"t\n\":{}}", {}), "control character"},
      {"lone surrogate", file_of("{\"\\udc00\":{}}", {}), "lone low surrogate"},
  };
  for (const Case& c : cases) {
    INFO(std::string(c.what) << ": " << refusal(c.bytes));
    const std::string message = refusal(c.bytes);
    CHECK(message.find(c.message) != std::string::npos);
    CHECK(message.find("hostile.safetensors") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(SafetensorsReader("/nonexistent/model.safetensors"),
                       doctest::Contains("'/nonexistent/model.safetensors' cannot be opened"), IoError);
  // Escapes decode: a name with a quote and a non-ASCII character.
  const SafetensorsReader r = SafetensorsReader::from_bytes(
      file_of("{\"__metadata__\":{\"k\":\"a\\\"b\\u00e9\\ud83d\\ude00\"}}", {}), "escapes.safetensors");
  CHECK(r.metadata().at("k") == "a\"b\xc3\xa9\xf0\x9f\x98\x80");
}

TEST_CASE("import_safetensors_into_checkpoint: another run's weights into a checkpoint, the rest kept or reset") {
  TRAINED(a, 3);  // the checkpoint: its step, Rng and Adam state are kept
  TRAINED(b, 8);  // the weights
  vaegan_test::TempDir dir;
  const std::string ckpt = dir.file("a.vgck"), weights = dir.file("b.safetensors"), out = dir.file("imported.vgck");
  save_training_checkpoint<VaeGanTrainer<float>, float>(ckpt, a, nullptr);
  export_safetensors(weights, b);
  import_safetensors_into_checkpoint(ckpt, weights, out);
  VaeGanTrainer<float> c(small_conv_config(), {}, 99);
  load_training_checkpoint<VaeGanTrainer<float>, float>(out, c, nullptr);
  CHECK(same_values(c, b));
  CHECK(c.step() == a.step());
  CHECK(c.rng().state() == a.rng().state());
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(bit_identical(c.networks()[i].optimizer->first_moment(), a.networks()[i].optimizer->first_moment()));
    CHECK(c.networks()[i].optimizer->steps() == a.networks()[i].optimizer->steps());
  }

  CheckpointImportOptions reset;
  reset.reset_optimizer = true;
  import_safetensors_into_checkpoint(ckpt, weights, out, reset);
  load_training_checkpoint<VaeGanTrainer<float>, float>(out, c, nullptr);
  CHECK(same_values(c, b));
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(c.networks()[i].optimizer->steps() == 0);
    CHECK(c.networks()[i].optimizer->second_moment().matrix().cwiseAbs().maxCoeff() == 0.0f);
  }

  // A GAN's weights do not fit: refused naming both files' problem, and nothing written.
  GanTrainer<float> gan(small_conv_config(), {}, 1);
  const std::string gan_weights = dir.file("gan.safetensors"), refused = dir.file("refused.vgck");
  export_safetensors(gan_weights, gan);
  CHECK_THROWS_WITH_AS(import_safetensors_into_checkpoint(ckpt, gan_weights, refused),
                       doctest::Contains("has no tensor 'encoder."), IoError);
  CHECK_FALSE(std::filesystem::exists(refused));
}
