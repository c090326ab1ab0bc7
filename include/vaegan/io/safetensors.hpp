#pragma once
// Safetensors export: a trainer's networks (or a checkpoint's) as one .safetensors file
// that PyTorch, JAX, NumPy or any safetensors reader loads without vaegan
// (docs/safetensors.md has the details and a PyTorch example).
//
//   export_safetensors("run/model.safetensors", trainer);                 // from a trainer
//   export_checkpoint_safetensors("run/ckpt.bin", "run/model.safetensors");  // from a checkpoint
//
// The file (the safetensors format: an 8-byte little-endian header length N, N bytes of
// JSON header padded with spaces to a multiple of 8, then the tensors' bytes):
//   - one F32 tensor per parameter, "<network>.<parameter>" ("decoder.net.0.weight"), in
//     PyTorch's layout: a Dense weight, stored [in, out] here, is written transposed as
//     torch.nn.Linear's [out, in]; float64 trainers are converted to float32;
//   - one F32 tensor per buffer (non-trained state), "<network>.<buffer>";
//   - tensors in name order, back to back; "__metadata__" holds "format" = "vaegan",
//     "vaegan.kind", "vaegan.dtype", "vaegan.step", "vaegan.version", "vaegan.networks" and,
//     per network, "vaegan.<network>.structure": its layers as a JSON document in a string.
// Both exports produce the same bytes for the same trainer state. Writing is atomic (a
// temporary file renamed over the target): a failed export leaves no file behind.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/io/atomic_file.hpp"
#include "vaegan/io/checkpoint_reader.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

namespace detail {

// A JSON string literal: quotes, backslashes and control characters escaped; other bytes
// (UTF-8 included) as they are.
inline std::string json_string(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  out += '"';
  return out;
}

inline std::string json_shape(const std::vector<std::int64_t>& dims) {
  std::string out = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) out += (i ? "," : "") + std::to_string(dims[i]);
  return out + "]";
}
inline std::vector<std::int64_t> shape_dims(const Shape& s) {
  std::vector<std::int64_t> dims;
  for (int i = 0; i < s.rank(); ++i) dims.push_back(static_cast<std::int64_t>(s[i]));
  return dims;
}

inline void put_le32(std::uint8_t* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}

}  // namespace detail

// SafetensorsWriter: collects float32 tensors and string metadata, then makes the file.
// Tensors are converted to float32 when added; the file lists them in name order.
class SafetensorsWriter {
 public:
  // Adds tensor `name` of shape `dims` from `data` (row-major, product of dims elements),
  // converted to float32.
  template <class T>
  void add_tensor(const std::string& name, const std::vector<std::int64_t>& dims, const T* data) {
    static_assert(std::is_arithmetic_v<T>, "add_tensor takes float or double elements");
    std::vector<float>& values = new_tensor(name, dims);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(data[i]);
  }
  // Adds a matrix stored [rows, cols] as its transpose [cols, rows] (a Dense weight, stored
  // [in, out], as PyTorch's Linear weight [out, in]).
  template <class T>
  void add_transposed(const std::string& name, std::int64_t rows, std::int64_t cols, const T* data) {
    static_assert(std::is_arithmetic_v<T>, "add_transposed takes float or double elements");
    std::vector<float>& values = new_tensor(name, {cols, rows});
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t c = 0; c < cols; ++c)
        values[static_cast<std::size_t>(c * rows + r)] = static_cast<float>(data[r * cols + c]);
  }
  // Adds a "__metadata__" entry (safetensors metadata maps strings to strings).
  void add_metadata(const std::string& key, const std::string& value) {
    if (!metadata_.emplace(key, value).second)
      throw Error("SafetensorsWriter: the metadata key '" + key + "' is set already");
  }

  std::size_t tensor_count() const { return tensors_.size(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  // The whole file.
  std::vector<std::uint8_t> bytes() const {
    std::string header = "{";
    if (!metadata_.empty()) {
      header += "\"__metadata__\":{";
      bool first = true;
      for (const auto& [key, value] : metadata_) {
        header += (first ? "" : ",") + detail::json_string(key) + ":" + detail::json_string(value);
        first = false;
      }
      header += "}";
    }
    std::uint64_t offset = 0;
    bool first = metadata_.empty();
    for (const auto& [name, t] : tensors_) {  // std::map: name order (bytewise)
      const std::uint64_t end = offset + 4 * static_cast<std::uint64_t>(t.values.size());
      header += (first ? "" : ",") + detail::json_string(name) +
                ":{\"dtype\":\"F32\",\"shape\":" + detail::json_shape(t.dims) + ",\"data_offsets\":[" +
                std::to_string(offset) + "," + std::to_string(end) + "]}";
      first = false;
      offset = end;
    }
    header += "}";
    // Pad with spaces so the byte buffer starts at a multiple of 8 (as the reference
    // implementation does): 8-byte prefix + header.
    header.append((8 - header.size() % 8) % 8, ' ');

    std::vector<std::uint8_t> out(8 + header.size() + static_cast<std::size_t>(offset));
    const auto n = static_cast<std::uint64_t>(header.size());
    for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
    std::memcpy(out.data() + 8, header.data(), header.size());
    std::uint8_t* p = out.data() + 8 + header.size();
    for (const auto& entry : tensors_)
      for (const float v : entry.second.values) {
        std::uint32_t bits;
        std::memcpy(&bits, &v, 4);
        detail::put_le32(p, bits);
        p += 4;
      }
    return out;
  }

  // Writes the file atomically: on any failure `path` is left as it was (no partial file).
  // `who` starts error messages. Returns the file's size in bytes.
  std::size_t save(const std::string& path, const std::string& who = "export_safetensors") const {
    const std::vector<std::uint8_t> b = bytes();
    detail::write_file_atomically(path, b.data(), b.size(), who);
    return b.size();
  }

 private:
  struct Entry {
    std::vector<std::int64_t> dims;
    std::vector<float> values;
  };
  std::vector<float>& new_tensor(const std::string& name, const std::vector<std::int64_t>& dims) {
    if (name.empty() || name == "__metadata__") throw Error("SafetensorsWriter: '" + name + "' cannot name a tensor");
    std::int64_t count = 1;
    for (const std::int64_t d : dims) {
      if (d < 0) throw Error("SafetensorsWriter: tensor '" + name + "' has a negative dimension");
      count *= d;
    }
    auto [it, inserted] = tensors_.emplace(name, Entry{dims, {}});
    if (!inserted) throw Error("SafetensorsWriter: two tensors named '" + name + "'");
    it->second.values.resize(static_cast<std::size_t>(count));
    return it->second.values;
  }

  std::map<std::string, Entry> tensors_;
  std::map<std::string, std::string> metadata_;
};

namespace detail {

// A Dense layer's declared activation ("relu", "leaky_relu(0.200000)", ...) as an
// activation layer would describe itself: {"type":"LeakyReLU","attributes":{...}}.
inline std::string safetensors_activation_json(const std::string& name) {
  static const std::pair<const char*, const char*> kinds[] = {
      {"identity", "Identity"}, {"relu", "ReLU"}, {"sigmoid", "Sigmoid"}, {"tanh", "Tanh"}, {"softplus", "Softplus"}};
  for (const auto& [ours, torch] : kinds)
    if (name == ours) return std::string("{\"type\":\"") + torch + "\",\"attributes\":{}}";
  const std::string prefix = "leaky_relu(";
  if (name.size() > prefix.size() + 1 && name.compare(0, prefix.size(), prefix) == 0 && name.back() == ')') {
    const std::string slope_text = name.substr(prefix.size(), name.size() - prefix.size() - 1);
    char* end = nullptr;
    const double slope = std::strtod(slope_text.c_str(), &end);
    if (end != nullptr && *end == '\0')
      return "{\"type\":\"LeakyReLU\",\"attributes\":{\"negative_slope\":" + json_string(format_double(slope)) + "}}";
  }
  return "{\"type\":" + json_string(name) + ",\"attributes\":{}}";  // unknown: as recorded
}

// The JSON document of "vaegan.<network>.structure" (schema: docs/safetensors.md).
inline std::string safetensors_structure_json(const std::string& network, const NetworkStructure& s) {
  std::string j = "{\"version\":1,\"name\":" + json_string(s.name) + ",\"input\":" + json_shape(shape_dims(s.input)) +
                  ",\"output\":" + json_shape(shape_dims(s.output)) + ",\"layers\":[";
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    const LayerDescription& l = s.layers[i];
    j += (i ? ",{" : "{");
    j += "\"path\":" + json_string(l.path) + ",\"type\":" + json_string(l.type) + ",\"attributes\":{";
    std::string activation;
    for (std::size_t k = 0; k < l.attributes.size(); ++k) {
      j += (k ? "," : "") + json_string(l.attributes[k].first) + ":" + json_string(l.attributes[k].second);
      if (l.type == "Dense" && l.attributes[k].first == "activation") activation = l.attributes[k].second;
    }
    j += "},\"input\":" + json_shape(shape_dims(l.input)) + ",\"output\":" + json_shape(shape_dims(l.output));
    if (!activation.empty()) j += ",\"activation\":" + safetensors_activation_json(activation);
    j += "}";
  }
  j += "],\"parameters\":[";
  for (std::size_t i = 0; i < s.parameters.size(); ++i) {
    const ParameterSlice& p = s.parameters[i];
    const bool transposed = p.torch_layout == TorchLayout::transposed;
    std::vector<std::int64_t> dims = shape_dims(p.shape);
    if (transposed && dims.size() == 2) std::swap(dims[0], dims[1]);
    j += (i ? ",{" : "{");
    j += "\"name\":" + json_string(p.name) + ",\"tensor\":" + json_string(network + "." + p.name) +
         ",\"shape\":" + json_shape(dims) + ",\"transposed\":" + (transposed ? "true" : "false") + "}";
  }
  j += "],\"buffers\":[";
  for (std::size_t i = 0; i < s.buffers.size(); ++i) {
    const ParameterSlice& b = s.buffers[i];
    j += (i ? ",{" : "{");
    j += "\"name\":" + json_string(b.name) + ",\"tensor\":" + json_string(network + "." + b.name) +
         ",\"shape\":" + json_shape(shape_dims(b.shape)) + "}";
  }
  return j + "]}";
}

// Adds one network: its parameters (from the flat buffer `params` of `params_size`
// values) and buffers, in PyTorch's layout, and its structure. `where` names the source
// in messages ("checkpoint 'run/ckpt.bin'").
template <class T>
void add_network_to_safetensors(SafetensorsWriter& w, const std::string& network, const NetworkStructure& s,
                                const T* params, Index params_size, const T* buffers, Index buffers_size,
                                const std::string& where) {
  const auto check = [&](const ParameterSlice& slice, Index size, const char* kind) {
    if (slice.offset < 0 || slice.shape.numel() < 0 || slice.offset + slice.shape.numel() > size)
      throw IoError(where + ": the " + network + "'s " + kind + " '" + slice.name + "' " + slice.shape.str() +
                    " at offset " + std::to_string(slice.offset) + " lies outside its " + std::to_string(size) +
                    " stored values (the structure and the values do not match; the file is damaged)");
  };
  for (const ParameterSlice& p : s.parameters) {
    check(p, params_size, "parameter");
    const std::string name = network + "." + p.name;
    if (p.torch_layout == TorchLayout::transposed) {
      if (p.shape.rank() != 2)
        throw IoError(where + ": the " + network + "'s parameter '" + p.name + "' is marked transposed but has shape " +
                      p.shape.str() + ", not a matrix");
      w.add_transposed(name, static_cast<std::int64_t>(p.shape[0]), static_cast<std::int64_t>(p.shape[1]),
                       params + p.offset);
    } else {
      w.add_tensor(name, shape_dims(p.shape), params + p.offset);
    }
  }
  for (const ParameterSlice& b : s.buffers) {
    check(b, buffers_size, "buffer");
    w.add_tensor(network + "." + b.name, shape_dims(b.shape), buffers + b.offset);
  }
  w.add_metadata("vaegan." + network + ".structure", safetensors_structure_json(network, s));
}

inline void add_safetensors_header_metadata(SafetensorsWriter& w, const std::string& kind, const std::string& dtype,
                                            std::int64_t step, const std::vector<std::string>& networks) {
  std::string names;
  for (const auto& n : networks) names += (names.empty() ? "" : ",") + n;
  w.add_metadata("format", "vaegan");
  w.add_metadata("vaegan.kind", kind);
  w.add_metadata("vaegan.dtype", dtype);
  w.add_metadata("vaegan.step", std::to_string(step));
  w.add_metadata("vaegan.networks", names);
  w.add_metadata("vaegan.version", std::to_string(VAEGAN_VERSION_MAJOR) + "." + std::to_string(VAEGAN_VERSION_MINOR) +
                                       "." + std::to_string(VAEGAN_VERSION_PATCH));
}

template <class T>
void add_checkpoint_network(SafetensorsWriter& w, const CheckpointReader& r, const std::string& network) {
  const std::string where = "checkpoint '" + r.path() + "'";
  const std::string section = network + ".structure";
  if (!r.has(section))
    throw IoError(where + " has no section '" + section +
                  "': it was written by an older vaegan; export it from a trainer that loaded it instead");
  NetworkStructure s;
  try {
    s = NetworkStructure::parse(r.str(section));
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {
    throw IoError(where + ": section '" + section + "': " + e.what() + " (the file is damaged)");
  }
  Tensor<T> params = r.tensor<T>(network + ".params", r.tensor_shape(network + ".params"));
  Tensor<T> buffers;
  if (r.has(network + ".buffers")) buffers = r.tensor<T>(network + ".buffers", r.tensor_shape(network + ".buffers"));
  add_network_to_safetensors(w, network, s, params.data(), params.numel(), buffers.data(), buffers.numel(), where);
}

}  // namespace detail

// The safetensors file of a trainer's networks (every slot of trainer.networks()).
template <class Trainer>
SafetensorsWriter safetensors_from_trainer(const Trainer& trainer) {
  using T = typename Trainer::Scalar;
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "trainers train float or double");
  SafetensorsWriter w;
  std::vector<std::string> names;
  for (const auto& net : trainer.networks()) names.push_back(net.name);
  detail::add_safetensors_header_metadata(w, Trainer::kKind, std::is_same_v<T, float> ? "float32" : "float64",
                                          static_cast<std::int64_t>(trainer.step()), names);
  for (const auto& net : trainer.networks()) {
    const ParameterSet<T>& p = *net.params;
    detail::add_network_to_safetensors(w, net.name, net.structure, p.values().data(), p.values().numel(),
                                       p.buffers().data(), p.buffers().numel(), std::string("the trainer"));
  }
  return w;
}

// The same from a checkpoint written by save_training_checkpoint (no trainer is built):
// the networks of trainer.kind, their structure from "<net>.structure", their values from
// "<net>.params" and "<net>.buffers". Throws IoError naming the file when it does not fit.
inline SafetensorsWriter safetensors_from_checkpoint(const CheckpointReader& r) {
  const std::string kind = r.str("trainer.kind");
  const std::string dtype = r.str("trainer.dtype");
  const std::vector<std::string> networks = checkpoint_networks(r);
  if (networks.empty())
    throw IoError("checkpoint '" + r.path() + "' (trainer kind '" + kind +
                  "') records no networks: it was written by an older vaegan or is not a training checkpoint; "
                  "load it into its trainer and save it again first");
  if (dtype != "float32" && dtype != "float64")
    throw IoError("checkpoint '" + r.path() + "': section 'trainer.dtype' is '" + dtype +
                  "', expected float32 or float64 (the file is damaged)");
  SafetensorsWriter w;
  detail::add_safetensors_header_metadata(w, kind, dtype, r.i64("trainer.step"), networks);
  for (const auto& net : networks) {
    if (dtype == "float32") detail::add_checkpoint_network<float>(w, r, net);
    else detail::add_checkpoint_network<double>(w, r, net);
  }
  return w;
}

// Writes `trainer`'s networks to `path` as safetensors (atomically).
template <class Trainer>
void export_safetensors(const std::string& path, const Trainer& trainer) {
  safetensors_from_trainer(trainer).save(path, "export_safetensors");
}

// Writes the networks of the checkpoint at `checkpoint_path` to `out_path` as safetensors
// (atomically); byte-identical to export_safetensors on a trainer in that state.
inline void export_checkpoint_safetensors(const std::string& checkpoint_path, const std::string& out_path) {
  safetensors_from_checkpoint(CheckpointReader(checkpoint_path)).save(out_path, "export_checkpoint_safetensors");
}

}  // namespace vaegan
