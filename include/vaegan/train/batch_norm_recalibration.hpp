#pragma once
// recalibrate_batch_norm(decoder, rng, batches, batch_size): replaces the running
// statistics of every batch-norm layer in a decoder (or generator) by their plain mean over
// `batches` train-mode passes of prior codes z_p ~ N(0, I), the codes samples are drawn
// from. Weights are untouched.
//
// Why: eval-mode samples normalize with running statistics. A VAE-GAN whose decoder saw
// posterior and prior codes in one batch (DecoderBatchNorm::joint) keeps running
// statistics of that mix; comparing samples before and after recalibration on prior codes
// alone measures what the mix costs. The mean, not an exponential average: pass k (from
// 0) updates with momentum 1 / (k + 1), which is PyTorch's cumulative average
// (momentum=None), so every batch counts the same and the old statistics none.
//
//   Tensor<float> saved = trainer.networks()[1].params->buffers();   // to restore after
//   Rng rng(7);
//   recalibrate_batch_norm(trainer.decoder(), rng, 50, 64);
#include <string>

#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/nn/module.hpp"

namespace vaegan {

template <class Dec>
void recalibrate_batch_norm(const Dec& decoder, Rng& rng, Index batches, Index batch_size) {
  using T = typename Dec::Scalar;
  if (batches < 1 || batch_size < 2)
    throw Error(
        "recalibrate_batch_norm: needs batches >= 1 and batch_size >= 2 (batch statistics of one code are "
        "undefined), got " +
        std::to_string(batches) + " and " + std::to_string(batch_size));
  Tape<T> tape;
  NoGradGuard<T> no_grad(tape);
  for (Index k = 0; k < batches; ++k) {
    tape.reset();
    Var<T> z = tape.full(Shape::matrix(batch_size, decoder.latent_dim()), T(0));
    rng.fill_normal(z.node().value, z.numel());
    ForwardContext ctx = ForwardContext::train(rng);
    ctx.running_stats_momentum = 1.0 / static_cast<double>(k + 1);
    decoder.forward(z, ctx);
  }
}

}  // namespace vaegan
