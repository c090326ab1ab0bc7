#pragma once
// Training checkpoints: everything needed to resume a trainer exactly, in the container
// format of io/checkpoint.hpp. Sections:
//   trainer.kind, trainer.dtype, model.config     what was trained (checked on load)
//   trainer.step, trainer.epoch, trainer.rng      where it stood, and its noise stream
//   <network>.params, <network>.adam.m, <network>.adam.v, <network>.adam.steps
//   batches.seed, batches.epoch, batches.cursor, batches.dataset_size   the data order
// Loading checks every section (presence, type, shape) before it changes anything, so a
// checkpoint that does not fit leaves the trainer as it was.
#include <cstdint>
#include <string>
#include <type_traits>

#include "vaegan/data/dataset.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/models/config.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

// What a checkpoint holds, read without building a trainer (e.g. to pick the right one).
struct CheckpointInfo {
  std::string kind;   // "vaegan", "gan" or "vae"
  std::string dtype;  // "float32" or "float64"
  ModelConfig config;
  std::int64_t step = 0;
  std::int64_t epoch = 0;
};

namespace detail {
template <class T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}
}  // namespace detail

inline CheckpointInfo read_checkpoint_info(const CheckpointReader& r) {
  CheckpointInfo info;
  info.kind = r.str("trainer.kind");
  info.dtype = r.str("trainer.dtype");
  info.config = ModelConfig::parse(r.str("model.config"));
  info.step = r.i64("trainer.step");
  info.epoch = r.i64("trainer.epoch");
  return info;
}
inline CheckpointInfo read_checkpoint_info(const std::string& path) { return read_checkpoint_info(CheckpointReader(path)); }

// Saves the trainer (and the batch loop's position, when given) to `path`, atomically.
template <class Trainer, class T>
void save_training_checkpoint(const std::string& path, Trainer& trainer, const Batches<T>* batches) {
  CheckpointWriter w;
  w.add_string("trainer.kind", Trainer::kKind);
  w.add_string("trainer.dtype", detail::dtype_name<T>());
  w.add_string("model.config", trainer.config().serialize());
  w.add_i64("trainer.step", trainer.step());
  w.add_i64("trainer.epoch", trainer.epoch());
  w.add_rng_state("trainer.rng", trainer.rng().state());
  for (const auto& net : trainer.networks()) {
    w.add_tensor(net.name + ".params", net.params->values());
    w.add_tensor(net.name + ".adam.m", net.optimizer->first_moment());
    w.add_tensor(net.name + ".adam.v", net.optimizer->second_moment());
    w.add_i64(net.name + ".adam.steps", net.optimizer->steps());
  }
  if (batches != nullptr) {
    const BatchState s = batches->state();
    w.add_u64("batches.seed", s.seed);
    w.add_i64("batches.epoch", s.epoch);
    w.add_i64("batches.cursor", s.cursor);
    w.add_i64("batches.dataset_size", s.dataset_size);
  }
  w.save(path);
}

// Restores a trainer saved by save_training_checkpoint; `batches`, when given, continues
// with the batch that followed the saved step.
template <class Trainer, class T>
void load_training_checkpoint(const std::string& path, Trainer& trainer, Batches<T>* batches) {
  const CheckpointReader r(path);
  const CheckpointInfo info = read_checkpoint_info(r);
  if (info.kind != Trainer::kKind)
    throw IoError("checkpoint '" + path + "' holds a " + info.kind + " trainer, but this program trains a " +
                  Trainer::kKind + "; use the matching program or a different --resume file");
  if (info.dtype != detail::dtype_name<T>())
    throw IoError("checkpoint '" + path + "' was saved in " + info.dtype + " but this trainer uses " +
                  detail::dtype_name<T>());
  if (info.config != trainer.config())
    throw IoError("checkpoint '" + path + "' is for the model " + info.config.describe() + " but this trainer has " +
                  trainer.config().describe() + "; pass the preset it was trained with");
  // Check every section before changing anything.
  for (const auto& net : trainer.networks()) {
    const Shape flat{net.params->size()};
    for (const char* part : {".params", ".adam.m", ".adam.v"}) {
      const Shape stored = r.tensor_shape(net.name + part);
      if (stored != flat)
        throw IoError("checkpoint '" + path + "': section " + net.name + part + " has shape " + stored.str() +
                      " but the " + net.name + " has " + flat.str() + " parameters");
      // The dtype too: read_tensor below would reject it, but only after the networks
      // before this one were already overwritten.
      if (r.type(net.name + part) != detail::tensor_section_type<T>())
        throw IoError("checkpoint '" + path + "': section " + net.name + part + " has dtype mismatch: it holds a " +
                      section_type_name(r.type(net.name + part)) + " but trainer.dtype says " + info.dtype +
                      " (the file is inconsistent)");
    }
    (void)r.i64(net.name + ".adam.steps");
  }
  const Rng::State rng_state = r.rng_state("trainer.rng");
  BatchState batch_state;
  if (batches != nullptr) {
    batch_state.seed = r.u64("batches.seed");
    batch_state.epoch = static_cast<Index>(r.i64("batches.epoch"));
    batch_state.cursor = static_cast<Index>(r.i64("batches.cursor"));
    batch_state.dataset_size = static_cast<Index>(r.i64("batches.dataset_size"));
    if (batch_state.epoch != info.epoch)
      throw IoError("checkpoint '" + path + "': the batch loop is at epoch " + std::to_string(batch_state.epoch) +
                    " but the trainer at epoch " + std::to_string(info.epoch) + " (the file is inconsistent)");
    batches->set_state(batch_state);  // throws (changing nothing) if the dataset differs
  }
  for (const auto& net : trainer.networks()) {
    r.read_tensor(net.name + ".params", net.params->values());
    r.read_tensor(net.name + ".adam.m", net.optimizer->first_moment());
    r.read_tensor(net.name + ".adam.v", net.optimizer->second_moment());
    net.optimizer->set_steps(r.i64(net.name + ".adam.steps"));
    net.params->zero_grad();
  }
  trainer.rng().set_state(rng_state);
  trainer.set_step(info.step);
  trainer.set_epoch(info.epoch);
}

}  // namespace vaegan
