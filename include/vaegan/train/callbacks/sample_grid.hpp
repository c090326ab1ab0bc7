#pragma once
// SampleGrid: the images of a training run. One fixed batch of latent codes (drawn from
// `seed`) is decoded at every due point, so frames compare over time:
// DIR/samples_epoch_NNN.png (or samples_step_NNNNNNN.png with Every::steps) and
// DIR/samples.png, the latest. Given real images (with_reconstructions) and a trainer with
// an encoder (VAE, VAE-GAN), also DIR/recon_epoch_NNN.png: the real images above their
// reconstructions. A run that stops between due points writes samples.png once more at
// its end, so it shows what was learned. Grids draw images of the model's shape [C, H, W]:
// gray for C = 1, RGB for C = 3 (else ShapeError before any training). Under mpirun only
// the first process writes.
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "vaegan/core/rng.hpp"
#include "vaegan/core/tensor.hpp"
#include "vaegan/io/image_grid.hpp"
#include "vaegan/train/callbacks/every.hpp"
#include "vaegan/train/callbacks/run_files.hpp"
#include "vaegan/train/fit.hpp"

namespace vaegan {

namespace detail {
// True for trainers with an encoder (they can reconstruct).
template <class Trainer, class = void>
struct has_encoder : std::false_type {};
template <class Trainer>
struct has_encoder<Trainer, std::void_t<decltype(std::declval<Trainer&>().encoder())>> : std::true_type {};
}  // namespace detail

template <class T = float>
class SampleGrid {
 public:
  explicit SampleGrid(std::string dir, Every every = Every::epochs(1), Index count = 64, std::uint64_t seed = 1)
      : files_(std::move(dir)), every_(every), count_(count), seed_(seed) {
    if (count < 1 || count > 4096) throw Error("SampleGrid: count must be 1..4096, got " + std::to_string(count));
  }
  // Real images [n, C, H, W] (or [n, C*H*W]) in [0, 1], shown above their reconstructions.
  // Copied, so the caller's tensor need not outlive the callback.
  SampleGrid& with_reconstructions(const Tensor<T>& real_images) {
    shown_real_ = real_images;
    return *this;
  }

  template <class Run>
  void on_fit_begin(Run& run) {
    static_assert(std::is_same_v<typename std::decay_t<decltype(run.trainer)>::Scalar, T>,
                  "SampleGrid<T>: T must be the trainer's scalar type (SampleGrid<double> for a double trainer)");
    writes_ = run.writes_output();
    if (!writes_) return;
    files_.create("SampleGrid");
    grid_ = image_grid_options(run.trainer.image_shape());
    if (shown_real_.numel() > 0) {
      const Shape& image = run.trainer.image_shape();
      if (shown_real_.shape().rank() < 2 || shown_real_.numel() != shown_real_.rows() * image.numel())
        throw ShapeError("SampleGrid: the images for reconstructions are " + shown_real_.shape().str() +
                         " but the trainer's images are " + image.str() + "; pass [n, " + image.str().substr(1));
      shown_real_.reshape(image.batched(shown_real_.rows()));
    }
    grid_.scale = 2;
    fixed_z_.resize(Shape::matrix(count_, run.trainer.latent_dim()));
    Rng(seed_ ^ 0xfeedULL).fill_normal(fixed_z_.data(), fixed_z_.numel());
    written_step_ = -1;
  }

  template <class Run>
  void on_step(Run& run, const StepEvent& e) {
    if (writes_ && every_.due_at_step(e.step)) write(run.trainer, true, e.step);
  }
  template <class Run>
  void on_epoch(Run& run, const EpochEvent& e) {
    if (writes_ && every_.due_at_epoch(e.epoch)) write(run.trainer, false, e.epoch);
  }
  template <class Run>
  void on_fit_end(Run& run, const FitEndEvent& e) {
    if (writes_ && written_step_ != e.step) {
      run.trainer.generate(fixed_z_, images_);
      write_image_grid(files_.path("samples.png"), images_, grid_);
    }
  }

 private:
  template <class Trainer>
  void write(Trainer& trainer, bool by_step, std::int64_t at) {
    trainer.generate(fixed_z_, images_);
    write_image_grid(files_.path(RunFiles::series_file("samples", by_step, at)), images_, grid_);
    write_image_grid(files_.path("samples.png"), images_, grid_);
    if constexpr (detail::has_encoder<Trainer>::value) {
      if (shown_real_.numel() > 0) {
        trainer.reconstruct(shown_real_, recon_);
        write_reconstruction_grid(files_.path(RunFiles::series_file("recon", by_step, at)), shown_real_, recon_, grid_);
      }
    }
    written_step_ = trainer.step();
  }

  RunFiles files_;
  Every every_;
  Index count_;
  std::uint64_t seed_;
  bool writes_ = true;
  Tensor<T> shown_real_, fixed_z_, images_, recon_;
  ImageGridOptions grid_;
  std::int64_t written_step_ = -1;
};

}  // namespace vaegan
