#pragma once
// Flatten and Reshape: views that change the sample shape, not the values (no copy).
//   Flatten:           [C, H, W] -> [C*H*W]   (torch.nn.Flatten)
//   Reshape({64,7,7}): [3136] -> [64, 7, 7]   (torch.nn.Unflatten(1, (64, 7, 7)))
#include <string>

#include "vaegan/nn/module.hpp"
#include "vaegan/ops/reshape.hpp"

namespace vaegan {

template <class T>
class Flatten : public Module<T> {
 public:
  std::string type() const override { return "Flatten"; }
  Shape output_shape(const Shape& input) const override { return Shape{input.numel()}; }
  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override {
    if (x.shape().rank() == 2) return x;
    return reshape(x, Shape::matrix(x.rows(), x.cols()));
  }
};

template <class T>
class Reshape : public Module<T> {
 public:
  // `sample` is the output shape of one sample (rank 1 to 3).
  explicit Reshape(Shape sample) : sample_(sample) {
    if (sample.rank() < 1 || sample.rank() > Shape::kMaxRank - 1 || sample.numel() < 1)
      throw ShapeError("Reshape: the sample shape must have rank 1 to 3 and elements, got " + sample.str());
  }

  std::string type() const override { return "Reshape"; }
  Shape output_shape(const Shape& input) const override {
    if (input.numel() != sample_.numel())
      throw ShapeError("Reshape to " + sample_.str() + " needs samples of " + std::to_string(sample_.numel()) +
                       " values, got " + input.str());
    return sample_;
  }
  Attributes attributes() const override { return {{"shape", sample_.str()}}; }
  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override {
    if (x.cols() != sample_.numel())
      throw ShapeError("Reshape to " + sample_.str() + ": input " + x.shape().str() + " has " +
                       std::to_string(x.cols()) + " values per sample");
    return reshape(x, sample_.batched(x.rows()));
  }
  const Shape& sample_shape() const { return sample_; }

 private:
  Shape sample_;
};

}  // namespace vaegan
