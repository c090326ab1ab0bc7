#pragma once
// vaegan: VAE-GAN training on the CPU with a tape-based autodiff. The only include a
// user needs.
#include "vaegan/core/activation_kind.hpp"
#include "vaegan/core/config.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/parallel.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/core/thread_governor.hpp"

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/testing/gradcheck.hpp"

#include "vaegan/ops/activation.hpp"
#include "vaegan/ops/batch_norm.hpp"
#include "vaegan/ops/conv2d.hpp"
#include "vaegan/ops/dropout.hpp"
#include "vaegan/ops/elementwise.hpp"
#include "vaegan/ops/matmul.hpp"
#include "vaegan/ops/reduce.hpp"
#include "vaegan/ops/reparam.hpp"
#include "vaegan/ops/reshape.hpp"
#include "vaegan/ops/rows.hpp"

#include "vaegan/losses/bce.hpp"
#include "vaegan/losses/kl.hpp"
#include "vaegan/losses/mse.hpp"
#include "vaegan/losses/reduction.hpp"
#include "vaegan/losses/softmax_xent.hpp"

#include "vaegan/nn/activation_layer.hpp"
#include "vaegan/nn/batch_norm.hpp"
#include "vaegan/nn/conv2d.hpp"
#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/dropout.hpp"
#include "vaegan/nn/init.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/reshape.hpp"
#include "vaegan/nn/sequential.hpp"
#include "vaegan/nn/structure.hpp"

#include "vaegan/optim/adam.hpp"
#include "vaegan/optim/sgd.hpp"

#include "vaegan/ops/clamp.hpp"

#include "vaegan/models/config.hpp"
#include "vaegan/models/decoder.hpp"
#include "vaegan/models/discriminator.hpp"
#include "vaegan/models/encoder.hpp"
#include "vaegan/models/presets.hpp"

#include "vaegan/data/dataset.hpp"
#include "vaegan/data/idx.hpp"
#include "vaegan/data/image_folder.hpp"
#include "vaegan/data/mnist.hpp"
#include "vaegan/data/split.hpp"

#include "vaegan/io/checkpoint.hpp"
#include "vaegan/io/csv.hpp"
#include "vaegan/io/image_decode.hpp"
#include "vaegan/io/image_grid.hpp"
#include "vaegan/io/image_resize.hpp"
#include "vaegan/io/png.hpp"
#include "vaegan/io/safetensors.hpp"
#include "vaegan/io/safetensors_load.hpp"
#include "vaegan/io/safetensors_reader.hpp"
#include "vaegan/io/svg_plot.hpp"
#include "vaegan/io/weights.hpp"

#include "vaegan/train/batch_norm_recalibration.hpp"
#include "vaegan/train/checkpointing.hpp"
#include "vaegan/train/fit.hpp"
#include "vaegan/train/gan_trainer.hpp"
#include "vaegan/train/step_stats.hpp"
#include "vaegan/train/trainer_core.hpp"
#include "vaegan/train/vae_trainer.hpp"
#include "vaegan/train/vaegan_trainer.hpp"

#include "vaegan/distributed/communicator.hpp"
// Data-parallel training over MPI: only in builds with the VAEGAN_MPI option.
#if defined(VAEGAN_MPI)
#include "vaegan/distributed/mpi.hpp"
#endif

#include "vaegan/metrics/classifier.hpp"
#include "vaegan/metrics/coverage.hpp"
#include "vaegan/metrics/evaluator.hpp"
#include "vaegan/metrics/fid.hpp"
#include "vaegan/metrics/precision_recall.hpp"
