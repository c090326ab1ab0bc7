#pragma once
// Conv2d<T> and ConvTranspose2d<T>: convolution layers over [C, H, W] samples, as
// torch.nn.Conv2d and torch.nn.ConvTranspose2d (square kernels, one stride and padding for
// both axes, groups = dilation = 1, with bias).
//
//   Conv2d(in, out, k, s, p):               [in, H, W] -> [out, (H + 2p - k) / s + 1, ...]
//   ConvTranspose2d(in, out, k, s, p, op):  [in, H, W] -> [out, (H - 1) s - 2p + k + op, ...]
//
// Parameters, in PyTorch's layouts (TorchLayout::same): "weight" [out, in, k, k] for Conv2d,
// [in, out, k, k] for ConvTranspose2d, and "bias" [out]. Initial values as PyTorch's
// reset_parameters: kaiming_uniform(a = sqrt(5)) for the weight, which is U(-1/sqrt(fan_in),
// 1/sqrt(fan_in)), and the same bound for the bias, where fan_in is the weight's dim 1
// times the kernel area (init._calculate_fan_in_and_fan_out): in k k for Conv2d and
// out k k for ConvTranspose2d.
//
// Unlike PyTorch, which floors, Conv2d refuses an input whose (H + 2p - k) is not a
// multiple of the stride: the last rows or columns would be silently dropped.
#include <cmath>
#include <string>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/autodiff/tape.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/format.hpp"
#include "vaegan/core/rng.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/detail/conv_geometry.hpp"
#include "vaegan/nn/module.hpp"
#include "vaegan/ops/conv2d.hpp"

namespace vaegan {

namespace detail {
// Shared by the two layers: sizes, parameters, messages.
template <class T>
class ConvLayerBase : public Module<T> {
 public:
  Attributes attributes() const override {
    Attributes a{{"in", std::to_string(in_)},
                 {"out", std::to_string(out_)},
                 {"kernel", std::to_string(kernel_)},
                 {"stride", std::to_string(stride_)},
                 {"padding", std::to_string(padding_)}};
    if (transposed_) a.emplace_back("output_padding", std::to_string(output_padding_));
    return a;
  }
  void bind(ParameterSet<T>& params, const std::string& prefix) override {
    params_ = &params;
    path_ = prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1);
    const Shape weight = transposed_ ? Shape{in_, out_, kernel_, kernel_} : Shape{out_, in_, kernel_, kernel_};
    weight_ = params.add(prefix + "weight", weight, TorchLayout::same);
    bias_ = params.add(prefix + "bias", Shape::vector(out_), TorchLayout::same);
  }
  // PyTorch's defaults: weight and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
  void reset_parameters(Rng& rng) override {
    require_bound();
    const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in()));
    rng.fill_uniform(params_->value_ptr(weight_), in_ * out_ * kernel_ * kernel_, -bound, bound);
    rng.fill_uniform(params_->value_ptr(bias_), out_, -bound, bound);
  }

  Index in_channels() const { return in_; }
  Index out_channels() const { return out_; }
  Index kernel_size() const { return kernel_; }
  Index stride() const { return stride_; }
  Index padding() const { return padding_; }
  // The weight's dim 1 times the kernel area, as PyTorch computes it for the init.
  Index fan_in() const { return (transposed_ ? out_ : in_) * kernel_ * kernel_; }
  int weight_index() const { return weight_; }
  int bias_index() const { return bias_; }
  ParameterSet<T>& parameters() const {
    require_bound();
    return *params_;
  }

 protected:
  ConvLayerBase(bool transposed, Index in, Index out, Index kernel, Index stride, Index padding, Index output_padding)
      : transposed_(transposed),
        in_(in),
        out_(out),
        kernel_(kernel),
        stride_(stride),
        padding_(padding),
        output_padding_(output_padding) {
    if (in < 1 || out < 1) refuse("the channel counts must be >= 1");
    if (kernel < 1) refuse("the kernel must be >= 1");
    if (stride < 1) refuse("the stride must be >= 1");
    if (padding < 0) refuse("the padding must be >= 0");
    if (transposed && (output_padding < 0 || output_padding >= stride))
      refuse("output_padding must be >= 0 and smaller than the stride (as in PyTorch)");
  }

  // "Conv2d 'enc.0' (in 1, out 32, kernel 4, stride 2, padding 1)"
  std::string label() const {
    std::string s = layer_label(transposed_ ? "ConvTranspose2d" : "Conv2d", path_) + " (in " + std::to_string(in_) +
                    ", out " + std::to_string(out_) + ", kernel " + std::to_string(kernel_) + ", stride " +
                    std::to_string(stride_) + ", padding " + std::to_string(padding_);
    if (transposed_) s += ", output_padding " + std::to_string(output_padding_);
    return s + ")";
  }
  [[noreturn]] void refuse(const std::string& why) const { throw ShapeError(label() + ": " + why); }

  // Checks a sample shape [in, H, W] and returns the output's spatial size for each axis.
  Shape checked_output(const Shape& input) const {
    if (input.rank() != 3 || input[0] != in_)
      refuse("takes samples of [" + std::to_string(in_) + ", H, W], got " + input.str() +
             (input.rank() != 3 ? " (put a Reshape before it)" : " (the layer before it gives another channel count)"));
    Index size[2];
    double exact[2];
    bool whole = true;
    for (int axis = 0; axis < 2; ++axis) {
      const Index h = input[axis + 1];
      if (transposed_) {
        size[axis] = detail::conv_transpose_output_size(h, kernel_, stride_, padding_, output_padding_);
        exact[axis] = static_cast<double>(size[axis]);
      } else {
        const Index span = h + 2 * padding_ - kernel_;
        exact[axis] = static_cast<double>(span) / static_cast<double>(stride_) + 1.0;
        whole = whole && span % stride_ == 0;
        size[axis] = detail::conv_output_size(h, kernel_, stride_, padding_);
      }
      whole = whole && h >= 1 && exact[axis] >= 1.0;
    }
    if (!whole)
      refuse("input " + input.str() + " gives an output size of " + format_double(exact[0]) + " x " +
             format_double(exact[1]) +
             (transposed_ ? "; (size - 1) * stride - 2 * padding + kernel + output_padding must be >= 1"
                          : "; (size + 2 * padding - kernel) / stride + 1 must be a whole number >= 1"));
    return Shape{out_, size[0], size[1]};
  }
  // The batch x as the layer's op expects it: [N, in, H, W] with a size the layer accepts.
  void check_input(const Var<T>& x) const {
    require_bound();
    const Shape xs = x.shape();
    if (xs.rank() != 4)
      refuse("takes a batch [N, " + std::to_string(in_) + ", H, W], got " + xs.str() + " (put a Reshape before it)");
    (void)checked_output(Shape{xs[1], xs[2], xs[3]});
  }
  void require_bound() const {
    if (params_ == nullptr)
      throw Error(label() +
                  ": the layer is not part of a network yet; compose it into a Sequential and a model (or "
                  "construct it with a ParameterSet)");
  }

  bool transposed_;
  ParameterSet<T>* params_ = nullptr;
  std::string path_;
  Index in_, out_, kernel_, stride_, padding_, output_padding_;
  int weight_ = -1, bias_ = -1;
};
}  // namespace detail

// A 2-D convolution: [in, H, W] -> [out, (H + 2p - k) / s + 1, (W + 2p - k) / s + 1].
template <class T>
class Conv2d : public detail::ConvLayerBase<T> {
 public:
  // A layer to compose: its parameters are registered when its network binds it.
  Conv2d(Index in_channels, Index out_channels, Index kernel, Index stride = 1, Index padding = 0)
      : detail::ConvLayerBase<T>(false, in_channels, out_channels, kernel, stride, padding, 0) {}

  std::string type() const override { return "Conv2d"; }
  Shape output_shape(const Shape& input) const override { return this->checked_output(input); }
  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override { return forward(x); }
  Var<T> forward(const Var<T>& x) const {
    this->check_input(x);
    Tape<T>& tape = x.tape();
    return conv2d(x, tape.parameter(*this->params_, this->weight_), tape.parameter(*this->params_, this->bias_),
                  this->stride_, this->padding_);
  }
  Var<T> operator()(const Var<T>& x) const { return forward(x); }
};

// A 2-D transposed convolution: [in, H, W] -> [out, (H - 1) s - 2p + k + op, (W - 1) s - 2p + k + op].
template <class T>
class ConvTranspose2d : public detail::ConvLayerBase<T> {
 public:
  ConvTranspose2d(Index in_channels, Index out_channels, Index kernel, Index stride = 1, Index padding = 0,
                  Index output_padding = 0)
      : detail::ConvLayerBase<T>(true, in_channels, out_channels, kernel, stride, padding, output_padding) {}

  std::string type() const override { return "ConvTranspose2d"; }
  Shape output_shape(const Shape& input) const override { return this->checked_output(input); }
  Var<T> forward(const Var<T>& x, const ForwardContext& /*ctx*/) const override { return forward(x); }
  Var<T> forward(const Var<T>& x) const {
    this->check_input(x);
    Tape<T>& tape = x.tape();
    return conv_transpose2d(x, tape.parameter(*this->params_, this->weight_),
                            tape.parameter(*this->params_, this->bias_), this->stride_, this->padding_,
                            this->output_padding_);
  }
  Var<T> operator()(const Var<T>& x) const { return forward(x); }
  Index output_padding() const { return this->output_padding_; }
};

}  // namespace vaegan
