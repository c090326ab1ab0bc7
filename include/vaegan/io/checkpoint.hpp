#pragma once
// Checkpoints: a container of named, typed, CRC-protected sections; the writer and the
// reader (format: io/checkpoint_format.hpp, docs/checkpoint-format.md).
//
//   CheckpointWriter w;
//   w.add_string("meta.preset", "mlp");
//   w.add_u64("meta.epoch", epoch);
//   w.add_tensor("E.params", encoder.parameters().values());
//   w.add_rng_state("rng", rng.state());
//   w.save("run/ckpt.bin");               // atomic: the old file survives any failure
//
//   CheckpointReader r("run/ckpt.bin");   // validates the whole file before returning
//   r.read_tensor("E.params", encoder.parameters().values());  // checks dtype and shape
//   rng.set_state(r.rng_state("rng"));
#include "vaegan/io/checkpoint_reader.hpp"
#include "vaegan/io/checkpoint_writer.hpp"
