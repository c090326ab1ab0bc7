#pragma once
// The work both Dense benchmarks time (dense.cpp with Google Benchmark, dense_compare.cpp
// for the summary table): one Dense layer of the `mlp` preset run through vaegan's tape,
// and bare calls of exactly the same GEMMs (OpenBLAS cblas_sgemm, or vaegan's detail::gemm),
// so a ratio compares equal work.
//
// Per layer, x [B, in], W [in, out], y [B, out], all row-major:
//   forward    y = x W                  (then vaegan adds the bias and applies ReLU)
//   backward   dW += x^T dZ,  dX += dZ W^T  (vaegan first forms dZ = dY * relu'(y))
// FLOP counts are those of the GEMMs only (2 B in out each); the element-wise epilogue
// (bias, activation, its gradient, the bias gradient, the benchmark's sum() loss) is in
// vaegan's time and not in the count, which is exactly the overhead the ratio shows.
//
// The input x is a tape leaf that views memory outside the tape and takes a gradient
// (like a parameter), so no copy of x is timed and dX accumulates into its buffer, as dW
// does: beta 1 for both backward GEMMs, on both sides. (A hidden layer of a network writes
// its dX fresh instead, beta 0: one more pass over dX, for OpenBLAS as for vaegan.)
#include <cblas.h>

#include <cstdint>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

// Declared in OpenBLAS's cblas.h; repeated here so the dependency is explicit and a
// cblas.h without it still compiles against OpenBLAS.
extern "C" void openblas_set_num_threads(int num_threads);
extern "C" char* openblas_get_config(void);

namespace vaegan_bench {

using vaegan::Index;

// One Dense shape of the `mlp` preset (docs/reference-workloads.md) and the layers
// that have it: `count` of them across encoder, decoder and discriminator.
struct MlpLayer {
  const char* layers;
  Index in;
  Index out;
  int count;
};

// Every distinct Dense shape of the preset; the counts add up to its Dense layers (10).
inline const std::vector<MlpLayer>& mlp_layers() {
  static const std::vector<MlpLayer> layers = {
      {"enc.0, disc.0", 784, 512, 2}, {"enc.1, disc.1", 512, 256, 2}, {"enc.mu, enc.logvar", 256, 32, 2},
      {"dec.0", 32, 256, 1},          {"dec.1", 256, 512, 1},         {"dec.out", 512, 784, 1},
      {"disc.out", 256, 1, 1},
  };
  return layers;
}

inline int mlp_dense_layer_count() {
  int n = 0;
  for (const MlpLayer& layer : mlp_layers()) n += layer.count;
  return n;
}

// The batch sizes and thread counts the reference workloads measure.
inline const std::vector<Index>& mlp_batches() {
  static const std::vector<Index> batches = {64, 256};
  return batches;
}
inline const std::vector<int>& mlp_threads() {
  static const std::vector<int> threads = {1, 2};
  return threads;
}

// The three timed passes; gemm_flops() counts the FLOPs of the GEMMs each one runs.
enum class Pass { forward, backward, forward_backward };

inline double gemm_flops(Pass p, Index batch, Index in, Index out) {
  const double one = 2.0 * static_cast<double>(batch) * static_cast<double>(in) * static_cast<double>(out);
  switch (p) {
    case Pass::forward: return one;
    case Pass::backward: return 2.0 * one;
    case Pass::forward_backward: return 3.0 * one;
  }
  return 0.0;
}

// Both libraries get the same thread count: vaegan's OpenMP panels and OpenBLAS's pool.
inline void set_threads(int threads) {
  vaegan::set_num_threads(threads);
  openblas_set_num_threads(threads);
}

// vaegan's side: a ReLU Dense layer (the fused `linear` op) on a tape; the loss is sum(y).
class DenseLayerRun {
 public:
  DenseLayerRun(Index batch, Index in, Index out, std::uint64_t seed = 1)
      : rng_(seed),
        params_("bench"),
        layer_(params_, in, out, vaegan::Activation::relu(), rng_, vaegan::Init::automatic, "layer"),
        inputs_("upstream") {
    // Pixel-like inputs, as the preset's; with He-initialized weights about half the
    // ReLUs are open, so backward does the work training sees.
    inputs_.add("x", vaegan::Shape::matrix(batch, in));
    rng_.fill_uniform(inputs_.value_ptr(0), batch * in, 0.0, 1.0);
  }

  // Records x -> relu(x W + b) on a fresh tape; returns the output.
  vaegan::Var<float> forward() {
    tape_.reset();
    return layer_(tape_.parameter(inputs_, 0));
  }
  // forward() then sum() and backward: the three GEMMs and every epilogue pass.
  float forward_backward() {
    vaegan::Var<float> loss = vaegan::sum(forward());
    tape_.backward(loss);
    return loss.item();
  }
  // Records forward and loss once, for backward() to replay.
  void record() { loss_ = vaegan::sum(forward()); }
  // Backward over the tape record() left: backward() is repeatable on one recording
  // (it re-marks the nodes and recomputes every gradient; dW keeps accumulating).
  void backward() { tape_.backward(loss_); }

  // The input's gradient buffer, [B, in].
  const float* input_grad() { return inputs_.grad_ptr(0); }

 private:
  vaegan::Rng rng_;
  vaegan::ParameterSet<float> params_;
  vaegan::Dense<float> layer_;
  vaegan::ParameterSet<float> inputs_;  // x [B, in] and its gradient dX
  vaegan::Tape<float> tape_;
  vaegan::Var<float> loss_;
};

// The same GEMMs as bare calls, nothing else: through OpenBLAS's cblas_sgemm (the
// reference) or through vaegan's own detail::gemm (to tell how much of a gap is the GEMM
// kernel and how much the layer's epilogue and the tape).
enum class GemmBackend { openblas, vaegan };

class GemmLayerRun {
 public:
  GemmLayerRun(GemmBackend backend, Index batch, Index in, Index out, std::uint64_t seed = 1)
      : backend_(backend), batch_(batch), in_(in), out_(out) {
    vaegan::Rng rng(seed);
    x_.resize(static_cast<std::size_t>(batch * in));
    w_.resize(static_cast<std::size_t>(in * out));
    y_.resize(static_cast<std::size_t>(batch * out));
    dz_.resize(static_cast<std::size_t>(batch * out));
    dw_.assign(static_cast<std::size_t>(in * out), 0.0f);
    dx_.assign(static_cast<std::size_t>(batch * in), 0.0f);
    rng.fill_uniform(x_.data(), batch * in, 0.0, 1.0);
    rng.fill_uniform(w_.data(), in * out, -0.05, 0.05);
    rng.fill_uniform(dz_.data(), batch * out, -1.0, 1.0);
  }

  // y[B, out] = x[B, in] W[in, out]
  const float* forward() {
    multiply(false, false, batch_, out_, in_, x_.data(), in_, w_.data(), out_, 0.0f, y_.data(), out_);
    return y_.data();
  }
  // dW[in, out] += x^T dZ;  dX[B, in] += dZ W^T
  void backward() {
    multiply(true, false, in_, out_, batch_, x_.data(), in_, dz_.data(), out_, 1.0f, dw_.data(), out_);
    multiply(false, true, batch_, in_, out_, dz_.data(), out_, w_.data(), out_, 1.0f, dx_.data(), in_);
  }
  void forward_backward() {
    forward();
    backward();
  }
  const float* input_grad() const { return dx_.data(); }

 private:
  // C[m, n] = op(A) op(B) + beta C, row-major, as detail::gemm spells it.
  void multiply(bool trans_a, bool trans_b, Index m, Index n, Index k, const float* a, Index lda, const float* b,
                Index ldb, float beta, float* c, Index ldc) {
    if (backend_ == GemmBackend::vaegan) {
      vaegan::detail::gemm<float>(trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
      return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
                static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b,
                static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
  }

  GemmBackend backend_;
  Index batch_, in_, out_;
  std::vector<float> x_, w_, y_, dz_, dw_, dx_;
};

inline std::string openblas_config() {
  const char* config = openblas_get_config();
  return config ? config : "unknown";
}

}  // namespace vaegan_bench
