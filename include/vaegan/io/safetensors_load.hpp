#pragma once
// load_safetensors: weights in from a .safetensors file (export_safetensors's, or a state
// dict PyTorch saved with safetensors) into a trainer's networks or into one network.
//
//   load_safetensors("model.safetensors", trainer);            // every network of the trainer
//   load_safetensors("model.safetensors", decoder);            // tensors "decoder.*"
//   load_safetensors("model.safetensors", decoder, {.prefix = "generator"});
//
// Names and layouts are export_safetensors's (docs/safetensors.md): "<network>.<parameter>"
// and "<network>.<buffer>" in PyTorch's layout (a Dense weight [out, in], transposed back
// here). The load is strict and all or nothing: every parameter and buffer must have its
// tensor, each F32 or F64 of exactly the expected shape, and no tensor may be left over
// unless SafetensorsLoadOptions::allow_unused says so; every check runs before the first
// value is written, so a refused file leaves the networks as they were. Loading one network
// looks only at the tensors under its prefix, so one network comes out of a trainer's
// file. F32 files loaded into float networks are bit-exact: export, load and export again
// gives the same bytes.
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/io/safetensors_reader.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

struct SafetensorsLoadOptions {
  // Tensors no network takes are an error (a file of another model, a misspelled name)
  // unless this is set; for one network, only those under its prefix count.
  bool allow_unused = false;
  // Loading one network: the tensors' name prefix ("" = the network's own name).
  std::string prefix;
};

namespace detail {

// One tensor's way into a network's flat buffer.
template <class T>
struct SafetensorsCopy {
  std::string tensor;
  T* destination = nullptr;
  std::int64_t rows = 0, cols = 0;  // transposed: the stored [rows, cols] matrix
  bool transposed = false;
};

inline std::string safetensors_shape_text(const std::vector<std::int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

// Checks that every parameter and buffer of one network (structure `s`, its values in the
// flat buffers `values` and `buffers`) has its tensor, and plans the copies.
template <class T>
void plan_safetensors_network(const SafetensorsReader& r, const std::string& prefix, const NetworkStructure& s,
                              T* values, Index values_size, T* buffers, Index buffers_size,
                              std::vector<SafetensorsCopy<T>>& plan, std::set<std::string>& used) {
  auto take = [&](const ParameterSlice& slice, T* base, Index size, const char* kind) {
    if (slice.offset < 0 || slice.offset + slice.shape.numel() > size)
      throw IoError("the " + prefix + "'s " + kind + " '" + slice.name + "' lies outside its " + std::to_string(size) +
                    " stored values (the structure and the values do not match)");
    const std::string name = prefix + "." + slice.name;
    if (!r.has(name))
      throw IoError("safetensors file '" + r.path() + "' has no tensor '" + name + "' for the " + prefix + "'s " +
                    kind + " " + slice.shape.str() +
                    " (a file of another model or trainer? its tensors are named <network>.<" + kind + ">)");
    r.require_float(name);
    const bool transposed = slice.torch_layout == TorchLayout::transposed && slice.shape.rank() == 2;
    std::vector<std::int64_t> expected;
    for (int i = 0; i < slice.shape.rank(); ++i) expected.push_back(static_cast<std::int64_t>(slice.shape[i]));
    if (transposed) std::swap(expected[0], expected[1]);
    if (r.info(name).shape != expected)
      throw IoError("safetensors file '" + r.path() + "': tensor '" + name + "' has shape " +
                    safetensors_shape_text(r.info(name).shape) + " but the " + prefix + "'s " + kind + " needs " +
                    safetensors_shape_text(expected) + (transposed ? " (PyTorch's [out, in])" : "") +
                    " (the networks differ from the ones that wrote the file)");
    SafetensorsCopy<T> c;
    c.tensor = name;
    c.destination = base + slice.offset;
    c.transposed = transposed;
    if (transposed) c.rows = slice.shape[0], c.cols = slice.shape[1];
    plan.push_back(c);
    used.insert(name);
  };
  for (const ParameterSlice& p : s.parameters) take(p, values, values_size, "parameter");
  for (const ParameterSlice& b : s.buffers) take(b, buffers, buffers_size, "buffer");
}
template <class T>
void plan_safetensors_network(const SafetensorsReader& r, const std::string& prefix, const NetworkStructure& s,
                              ParameterSet<T>& params, std::vector<SafetensorsCopy<T>>& plan,
                              std::set<std::string>& used) {
  plan_safetensors_network(r, prefix, s, params.values().data(), params.values().numel(), params.buffers().data(),
                           params.buffers().numel(), plan, used);
}

// Tensors under `scope` ("" = all; a network's "prefix.") that nothing took.
inline void check_safetensors_unused(const SafetensorsReader& r, const std::set<std::string>& used,
                                     const SafetensorsLoadOptions& options, const std::string& scope) {
  if (options.allow_unused) return;
  std::string unused;
  int count = 0;
  for (const auto& entry : r.tensors())
    if (entry.first.compare(0, scope.size(), scope) == 0 && !used.count(entry.first)) {
      if (count < 5) unused += (unused.empty() ? "'" : ", '") + entry.first + "'";
      ++count;
    }
  if (count > 0)
    throw IoError("safetensors file '" + r.path() + "' has " + std::to_string(count) +
                  " tensor(s) no network takes: " + unused + (count > 5 ? ", ..." : "") +
                  " (a file of another model? pass SafetensorsLoadOptions{.allow_unused = true} to ignore them)");
}

template <class T>
void run_safetensors_plan(const SafetensorsReader& r, const std::vector<SafetensorsCopy<T>>& plan) {
  std::vector<T> scratch;
  for (const SafetensorsCopy<T>& c : plan) {
    if (!c.transposed) {
      r.copy_values(c.tensor, c.destination);
      continue;
    }
    scratch.resize(static_cast<std::size_t>(c.rows * c.cols));
    r.copy_values(c.tensor, scratch.data());  // [cols, rows] on disk
    for (std::int64_t i = 0; i < c.rows; ++i)
      for (std::int64_t j = 0; j < c.cols; ++j)
        c.destination[i * c.cols + j] = scratch[static_cast<std::size_t>(j * c.rows + i)];
  }
}

template <class X, class = void>
struct is_trainer : std::false_type {};
template <class X>
struct is_trainer<X, std::void_t<decltype(std::declval<X&>().networks())>> : std::true_type {};

}  // namespace detail

// Every network of a trainer (its networks() slots), or one network (anything with
// structure() and parameters(): Encoder, Decoder, Generator, Discriminator, a user's).
template <class Target>
void load_safetensors(const SafetensorsReader& r, Target& target, const SafetensorsLoadOptions& options = {}) {
  if constexpr (detail::is_trainer<Target>::value) {
    using T = typename Target::Scalar;
    std::vector<detail::SafetensorsCopy<T>> plan;
    std::set<std::string> used;
    for (const auto& slot : target.networks())
      detail::plan_safetensors_network(r, slot.name, slot.structure, *slot.params, plan, used);
    detail::check_safetensors_unused(r, used, options, "");
    detail::run_safetensors_plan(r, plan);
  } else {
    using T = typename Target::Scalar;
    const NetworkStructure s = target.structure();
    const std::string prefix = options.prefix.empty() ? s.name : options.prefix;
    std::vector<detail::SafetensorsCopy<T>> plan;
    std::set<std::string> used;
    detail::plan_safetensors_network(r, prefix, s, target.parameters(), plan, used);
    detail::check_safetensors_unused(r, used, options, prefix + ".");
    detail::run_safetensors_plan(r, plan);
  }
}

template <class Target>
void load_safetensors(const std::string& path, Target& target, const SafetensorsLoadOptions& options = {}) {
  load_safetensors(SafetensorsReader(path), target, options);
}

}  // namespace vaegan
