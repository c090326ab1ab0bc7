#pragma once
// Training checkpoints: everything needed to resume a trainer exactly, in the container
// format of io/checkpoint.hpp. Sections:
//   trainer.kind, trainer.dtype                   what was trained (checked on load)
//   model.config                                  the dense preset, when the trainer has one
//   trainer.step, trainer.epoch, trainer.rng      where it stood, and its noise stream
//   <network>.structure                           its layers and tensors (nn/structure.hpp),
//                                                 compared with the loading trainer's
//   <network>.params, <network>.adam.m, <network>.adam.v, <network>.adam.steps
//   <network>.buffers                             non-trained state, when it has any
//   batches.seed, batches.epoch, batches.cursor, batches.dataset_size   the data order
//   sections of the trainer's own                 when it has write_checkpoint_sections(w)
//                                                 (the classifier's configuration); on load
//                                                 its check_checkpoint_sections(r) checks them
// Loading checks every section (presence, type, shape, value ranges, the model config and
// the batch loop's dataset) before it changes anything, so a checkpoint that does not fit
// leaves the trainer as it was; every rejection names the file, and the section at fault
// where there is one.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "vaegan/data/dataset.hpp"
#include "vaegan/io/checkpoint.hpp"
#include "vaegan/models/config.hpp"
#include "vaegan/nn/structure.hpp"
#include "vaegan/train/trainer_core.hpp"

namespace vaegan {

// What a checkpoint holds, read without building a trainer (e.g. to pick the right one).
struct CheckpointInfo {
  std::string kind;                   // "vaegan", "gan", "vae" or "classifier"
  std::string dtype;                  // "float32" or "float64"
  std::optional<ModelConfig> config;  // the dense preset it was built from, if any
  std::int64_t step = 0;
  std::int64_t epoch = 0;
};

namespace detail {
template <class T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float32" : "float64";
}
// Whether the trainer writes sections of its own (and checks them on load).
template <class Trainer, class = void>
struct has_checkpoint_sections : std::false_type {};
template <class Trainer>
struct has_checkpoint_sections<Trainer, std::void_t<decltype(std::declval<const Trainer&>().write_checkpoint_sections(
                                            std::declval<CheckpointWriter&>()))>> : std::true_type {};
}  // namespace detail

inline CheckpointInfo read_checkpoint_info(const CheckpointReader& r) {
  CheckpointInfo info;
  info.kind = r.str("trainer.kind");
  info.dtype = r.str("trainer.dtype");
  try {
    if (r.has("model.config")) info.config = ModelConfig::parse(r.str("model.config"));
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {
    // ModelConfig::parse does not know the file: name it, and the section.
    throw IoError("checkpoint '" + r.path() + "': section 'model.config': " + e.what());
  }
  info.step = r.i64("trainer.step");
  info.epoch = r.i64("trainer.epoch");
  return info;
}
inline CheckpointInfo read_checkpoint_info(const std::string& path) {
  return read_checkpoint_info(CheckpointReader(path));
}

// Saves the trainer (and the batch loop's position, when given) to `path`, atomically.
template <class Trainer, class T>
void save_training_checkpoint(const std::string& path, Trainer& trainer, const Batches<T>* batches) {
  CheckpointWriter w;
  w.add_string("trainer.kind", Trainer::kKind);
  w.add_string("trainer.dtype", detail::dtype_name<T>());
  if (trainer.config()) w.add_string("model.config", trainer.config()->serialize());
  if constexpr (detail::has_checkpoint_sections<Trainer>::value) trainer.write_checkpoint_sections(w);
  w.add_i64("trainer.step", trainer.step());
  w.add_i64("trainer.epoch", trainer.epoch());
  w.add_rng_state("trainer.rng", trainer.rng().state());
  std::string network_names;  // the slots in order, so readers need no list of trainer kinds
  for (const auto& net : trainer.networks()) network_names += (network_names.empty() ? "" : ",") + net.name;
  w.add_string("trainer.networks", network_names);
  for (const auto& net : trainer.networks()) {
    w.add_string(net.name + ".structure", net.structure.to_text());
    w.add_tensor(net.name + ".params", net.params->values());
    if (net.params->buffers().numel() > 0) w.add_tensor(net.name + ".buffers", net.params->buffers());
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

namespace detail {

// The most steps, epochs or Adam updates a checkpoint may claim: far beyond any run (2^53
// steps at a microsecond each is 285 years), and small enough that counting on from it
// never overflows and stays exact in a double (Adam's bias correction uses it as one).
inline constexpr std::int64_t kMaxCheckpointCounter = std::int64_t{1} << 53;

// An i64 section that must lie in [lo, hi]; the message names the file, the section and
// the range.
inline std::int64_t checkpoint_counter(const CheckpointReader& r, const std::string& name, std::int64_t lo,
                                       std::int64_t hi, const char* what) {
  const std::int64_t v = r.i64(name);
  if (v < lo || v > hi)
    throw IoError("checkpoint '" + r.path() + "': section '" + name + "' (" + what + ") is " + std::to_string(v) +
                  ", outside the accepted range " + std::to_string(lo) + ".." + std::to_string(hi) +
                  " (the file is damaged or was not written by save_training_checkpoint)");
  return v;
}

// Parameters and first moments must be finite, second moments finite and >= 0: a trainer
// never saves anything else (a non-finite step throws before it changes a parameter), and
// loading such values would only fail later, far from the cause.
template <class T>
void check_checkpoint_values(const CheckpointReader& r, const std::string& name, const Tensor<T>& t,
                             bool non_negative) {
  const T* p = t.data();
  for (Index i = 0; i < t.numel(); ++i) {
    if (std::isfinite(static_cast<double>(p[i])) && (!non_negative || p[i] >= T(0))) continue;
    char value[32];
    std::snprintf(value, sizeof value, "%.9g", static_cast<double>(p[i]));
    throw IoError("checkpoint '" + r.path() + "': section '" + name + "' holds " + value + " at element " +
                  std::to_string(i) + "; expected " +
                  (non_negative ? "finite values >= 0 (Adam second moments)" : "finite values") +
                  " (the file is damaged or was not written by save_training_checkpoint)");
  }
}

// The network saved in the file must be the trainer's: same layers, same tensors.
template <class T>
void check_checkpoint_structure(const CheckpointReader& r, const NetworkSlot<T>& net) {
  const std::string section = net.name + ".structure";
  if (!r.has(section))
    throw IoError("checkpoint '" + r.path() + "' has no section '" + section +
                  "': it was written by an older vaegan or for another model; train again from scratch");
  NetworkStructure saved;
  try {
    saved = NetworkStructure::parse(r.str(section));
  } catch (const IoError&) {
    throw;
  } catch (const Error& e) {
    throw IoError("checkpoint '" + r.path() + "': section '" + section + "': " + e.what() + " (the file is damaged)");
  }
  const std::string diff = net.structure.first_difference(saved, "the checkpoint");
  if (!diff.empty())
    throw IoError("checkpoint '" + r.path() + "': the " + net.name + " does not match the saved one: " + diff +
                  "; load it into the model it was trained with (same preset and flags)");
}

}  // namespace detail

// Restores a trainer saved by save_training_checkpoint from a validated checkpoint (`r`
// may have been read from a file or from memory); `batches`, when given, continues with the
// batch that followed the saved step. Everything is checked (presence, type, shape, config,
// value ranges, the batch loop's state against its dataset) before anything changes: a
// checkpoint that does not fit throws IoError (ShapeError if the batch loop's dataset has
// another size) naming the file and leaves the trainer and `batches` as they were.
template <class Trainer, class T>
void load_training_checkpoint(const CheckpointReader& r, Trainer& trainer, Batches<T>* batches) {
  const std::string& path = r.path();
  const CheckpointInfo info = read_checkpoint_info(r);
  if (info.kind != Trainer::kKind)
    throw IoError("checkpoint '" + path + "' holds a " + info.kind + " trainer, but this program trains a " +
                  Trainer::kKind + "; use the matching program or a different --resume file");
  if (info.dtype != detail::dtype_name<T>())
    throw IoError("checkpoint '" + path + "' was saved in " + info.dtype + " but this trainer uses " +
                  detail::dtype_name<T>());
  for (const auto& net : trainer.networks()) detail::check_checkpoint_structure(r, net);
  if constexpr (detail::has_checkpoint_sections<Trainer>::value) trainer.check_checkpoint_sections(r);
  const std::int64_t max = detail::kMaxCheckpointCounter;
  detail::checkpoint_counter(r, "trainer.step", 0, max, "the trainer's step count");
  detail::checkpoint_counter(r, "trainer.epoch", 0, max, "the trainer's epoch count");
  // Check every section before changing anything: read the networks' state into staging
  // tensors and validate it; only then copy it in.
  struct Staged {
    Tensor<T> params, m, v, buffers;
    std::int64_t steps = 0;
  };
  std::vector<Staged> staged;
  for (const auto& net : trainer.networks()) {
    const Shape flat{net.params->size()};
    Staged s;
    Tensor<T>* into[] = {&s.params, &s.m, &s.v};
    int k = 0;
    for (const char* part : {".params", ".adam.m", ".adam.v"}) {
      const std::string name = net.name + part;
      const Shape stored = r.tensor_shape(name);
      if (stored != flat)
        throw IoError("checkpoint '" + path + "': section '" + name + "': shape mismatch: the file has " +
                      stored.str() + " but the " + net.name + " of this model has " + flat.str() +
                      " parameters (was it saved with another model config?)");
      if (r.type(name) != detail::tensor_section_type<T>())
        throw IoError("checkpoint '" + path + "': section '" + name + "': dtype mismatch: it holds a " +
                      section_type_name(r.type(name)) + " but trainer.dtype says " + info.dtype +
                      " (the file is inconsistent)");
      *into[k] = r.tensor<T>(name, flat);
      detail::check_checkpoint_values(r, name, *into[k], k == 2);
      ++k;
    }
    s.steps = detail::checkpoint_counter(r, net.name + ".adam.steps", 0, max, "Adam's step count");
    if (net.params->buffers().numel() > 0) {
      s.buffers = r.tensor<T>(net.name + ".buffers", net.params->buffers().shape());
      detail::check_checkpoint_values(r, net.name + ".buffers", s.buffers, false);
    }
    staged.push_back(std::move(s));
  }
  const Rng::State rng_state = r.rng_state("trainer.rng");
  if (batches != nullptr) {
    BatchState b;
    b.seed = r.u64("batches.seed");
    const Index size = batches->state().dataset_size;
    b.dataset_size = static_cast<Index>(r.i64("batches.dataset_size"));
    if (b.dataset_size != size)
      throw ShapeError("checkpoint '" + path +
                       "': section 'batches.dataset_size': the batch loop was saved on a "
                       "dataset of " +
                       std::to_string(b.dataset_size) + " images but this one has " + std::to_string(size) +
                       "; load the same data");
    b.epoch = static_cast<Index>(detail::checkpoint_counter(r, "batches.epoch", 0, max, "the batch loop's epoch"));
    b.cursor = static_cast<Index>(
        detail::checkpoint_counter(r, "batches.cursor", 0, size, "images of the epoch already handed out"));
    if (b.epoch != info.epoch)
      throw IoError("checkpoint '" + path + "': the batch loop is at epoch " + std::to_string(b.epoch) +
                    " but the trainer at epoch " + std::to_string(info.epoch) + " (the file is inconsistent)");
    batches->set_state(b);  // checked above: cannot throw now
  }
  std::size_t i = 0;
  for (const auto& net : trainer.networks()) {
    Staged& s = staged[i++];
    // Copied into the existing buffers: the layers view the flat parameter buffer in place.
    const auto copy_into = [](const Tensor<T>& from, Tensor<T>& to) {
      std::copy(from.data(), from.data() + from.numel(), to.data());
    };
    copy_into(s.params, net.params->values());
    copy_into(s.m, net.optimizer->first_moment());
    copy_into(s.v, net.optimizer->second_moment());
    if (s.buffers.numel() > 0) copy_into(s.buffers, net.params->buffers());
    net.optimizer->set_steps(s.steps);
    net.params->zero_grad();
  }
  trainer.rng().set_state(rng_state);
  trainer.set_step(info.step);
  trainer.set_epoch(info.epoch);
}
template <class Trainer, class T>
void load_training_checkpoint(const std::string& path, Trainer& trainer, Batches<T>* batches) {
  load_training_checkpoint(CheckpointReader(path), trainer, batches);
}

}  // namespace vaegan
