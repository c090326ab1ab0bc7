#pragma once
// import_safetensors_into_checkpoint: a training checkpoint with its networks' weights
// replaced by a .safetensors file's (a state dict trained or edited in PyTorch, or another
// run's export), so training continues from them here (`--resume`).
//
//   import_safetensors_into_checkpoint("run/checkpoint.vgck", "tuned.safetensors", "run/imported.vgck");
//
// No trainer is built: each network comes from the checkpoint's own "<network>.structure"
// section (composed networks import too), and every parameter and buffer must have its
// tensor in the file, checked as load_safetensors checks them (names, F32/F64, PyTorch's
// shapes, nothing left over unless allowed). Every other section (step, epoch, Rng, batch
// loop, model config) is copied as it is; Adam's moments and step counts too, unless
// reset_optimizer zeroes them (new weights from elsewhere make the old moments stale). The
// output is written atomically, so on any refusal nothing is written; `out` may be the
// input's own path.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "vaegan/core/error.hpp"
#include "vaegan/io/checkpoint_reader.hpp"
#include "vaegan/io/checkpoint_writer.hpp"
#include "vaegan/io/safetensors_load.hpp"
#include "vaegan/io/safetensors_reader.hpp"
#include "vaegan/nn/structure.hpp"

namespace vaegan {

struct CheckpointImportOptions {
  SafetensorsLoadOptions load;   // allow_unused: tensors no network takes are ignored
  bool reset_optimizer = false;  // zero every network's Adam moments and step count
};

namespace detail {

template <class T>
CheckpointWriter import_safetensors(const CheckpointReader& r, const SafetensorsReader& weights,
                                    const CheckpointImportOptions& o) {
  const std::vector<std::string> networks = checkpoint_networks(r);
  if (networks.empty())
    throw IoError("checkpoint '" + r.path() +
                  "' has no '<network>.structure' sections: it was written by an older vaegan or is not a training "
                  "checkpoint; load it into its trainer and save it again first");
  std::map<std::string, Tensor<T>> values;  // "<network>.params" / ".buffers", updated
  std::vector<SafetensorsCopy<T>> plan;
  std::set<std::string> used;
  for (const std::string& net : networks) {
    NetworkStructure s;
    try {
      s = NetworkStructure::parse(r.str(net + ".structure"));
    } catch (const IoError&) {
      throw;
    } catch (const Error& e) {
      throw IoError("checkpoint '" + r.path() + "': section '" + net + ".structure': " + e.what() +
                    " (the file is damaged)");
    }
    Tensor<T>& params = values[net + ".params"] = r.tensor<T>(net + ".params", r.tensor_shape(net + ".params"));
    Tensor<T>& buffers = values[net + ".buffers"];
    if (r.has(net + ".buffers")) buffers = r.tensor<T>(net + ".buffers", r.tensor_shape(net + ".buffers"));
    try {
      plan_safetensors_network(weights, net, s, params.data(), params.numel(), buffers.data(), buffers.numel(), plan,
                               used);
    } catch (const IoError& e) {
      throw IoError("checkpoint '" + r.path() + "': " + e.what());
    }
  }
  check_safetensors_unused(weights, used, o.load, "");
  run_safetensors_plan(weights, plan);

  CheckpointWriter w;
  for (const std::string& name : r.names()) {
    const auto updated = values.find(name);
    const bool adam_state = name.size() > 7 && (name.compare(name.size() - 7, 7, ".adam.m") == 0 ||
                                                name.compare(name.size() - 7, 7, ".adam.v") == 0);
    const bool adam_steps = name.size() > 11 && name.compare(name.size() - 11, 11, ".adam.steps") == 0;
    if (updated != values.end()) {
      w.add_tensor(name, updated->second);
    } else if (o.reset_optimizer && adam_state) {
      Tensor<T> zeros(r.tensor_shape(name));
      zeros.matrix().setZero();
      w.add_tensor(name, zeros);
    } else if (o.reset_optimizer && adam_steps) {
      w.add_i64(name, 0);
    } else {
      w.add_section(name, r.type(name), r.payload(name));
    }
  }
  return w;
}

}  // namespace detail

inline void import_safetensors_into_checkpoint(const std::string& checkpoint_path, const std::string& weights_path,
                                               const std::string& out_path, const CheckpointImportOptions& o = {}) {
  const CheckpointReader r(checkpoint_path);
  const SafetensorsReader weights(weights_path);
  const std::string dtype = r.str("trainer.dtype");
  if (dtype == "float32") detail::import_safetensors<float>(r, weights, o).save(out_path);
  else if (dtype == "float64") detail::import_safetensors<double>(r, weights, o).save(out_path);
  else
    throw IoError("checkpoint '" + checkpoint_path + "': section 'trainer.dtype' is '" + dtype +
                  "', expected float32 or float64 (the file is damaged)");
}

}  // namespace vaegan
