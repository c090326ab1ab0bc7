#pragma once
// SampleWriter: the images of a training run. One fixed latent batch (drawn from the
// seed) is decoded after every epoch, so frames compare: OUT/samples_epoch_NNN.png and
// OUT/samples.png (the latest). With Reconstructs (VAE, VAE-GAN), also
// OUT/recon_epoch_NNN.png: the shown real images above their reconstructions. The grids
// draw images of the model's shape [C, H, W]: gray for C = 1, RGB for C = 3.
#include <cstdint>
#include <string>

#include <vaegan/vaegan.hpp>

#include "output_dir.hpp"

namespace examples {

template <class Trainer, class T, bool Reconstructs>
class SampleWriter {
 public:
  // `image_shape`: [C, H, W] of one image (C = 1 or 3, else ShapeError, before any
  // training). `shown_real` ([N, C, H, W]) must outlive the writer; unused without
  // Reconstructs.
  SampleWriter(Trainer& trainer, const OutputDir& out, std::int64_t count, vaegan::Index latent_dim, std::uint64_t seed,
               const vaegan::Shape& image_shape, const vaegan::Tensor<T>& shown_real)
      : trainer_(trainer),
        out_(out),
        shown_real_(shown_real),
        fixed_z_(vaegan::Shape::matrix(count, latent_dim)),
        grid_(vaegan::image_grid_options(image_shape)) {
    vaegan::Rng(seed ^ 0xfeedULL).fill_normal(fixed_z_.data(), fixed_z_.numel());
    grid_.scale = 2;
  }

  void on_epoch(const vaegan::EpochEvent& e) {
    trainer_.generate(fixed_z_, images_);
    vaegan::write_image_grid(out_.epoch_file("samples", e.epoch), images_, grid_);
    vaegan::write_image_grid(out_.file("samples.png"), images_, grid_);
    if constexpr (Reconstructs) {
      trainer_.reconstruct(shown_real_, recon_);
      vaegan::write_reconstruction_grid(out_.epoch_file("recon", e.epoch), shown_real_, recon_, grid_);
    }
  }

  // OUT/samples.png only: for a run that stopped mid-epoch, so it shows what was learned.
  void write_latest() {
    trainer_.generate(fixed_z_, images_);
    vaegan::write_image_grid(out_.file("samples.png"), images_, grid_);
  }

 private:
  Trainer& trainer_;
  const OutputDir& out_;
  const vaegan::Tensor<T>& shown_real_;
  vaegan::Tensor<T> fixed_z_;
  vaegan::Tensor<T> images_, recon_;
  vaegan::ImageGridOptions grid_;
};

}  // namespace examples
