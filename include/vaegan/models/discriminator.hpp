#pragma once
// Discriminator<T, Net>: images [N, ...image shape] -> one logit per image [N, 1]: the
// user's trunk (ending in [features]) and a linear head "head", in one flat ParameterSet
// named "discriminator".
//
// Larsen et al.'s learned similarity compares D's features of real and reconstructed
// images. The feature layer is the trunk's child the user names (a Sequential trunk), or
// the trunk's output. Features are compared without dropout noise: when a dropout layer
// sits at or before the feature layer, features() runs the trunk up to that layer once
// more with noise off (train mode otherwise); without one, the features of the main pass
// serve as they are.
#include <string>
#include <type_traits>
#include <utility>

#include "vaegan/nn/dense.hpp"
#include "vaegan/nn/network.hpp"
#include "vaegan/nn/sequential.hpp"

namespace vaegan {

template <class T>
struct LogitAndFeatures {
  Var<T> logit;     // [N, 1]
  Var<T> features;  // [N, ...feature layer's sample shape]
};

template <class T, class Net = Sequential<T>>
class Discriminator : public NetworkBase<T> {
 public:
  // `feature_layer`: the name of a child of a Sequential trunk ("" = the trunk's output).
  Discriminator(const Shape& image, Net trunk, const std::string& feature_layer = "")
      : NetworkBase<T>("discriminator", image) {
    if (!feature_layer.empty()) {
      if constexpr (std::is_base_of_v<Sequential<T>, Net>) {
        feature_index_ = trunk.index_of(feature_layer);
        trunk.keep_output(feature_index_);
      } else {
        throw Error("discriminator: naming a feature layer ('" + feature_layer + "') needs a Sequential trunk");
      }
    }
    trunk_ = this->add_part("trunk", std::move(trunk), image);
    const Shape features = trunk_->output_shape(image);
    if (features.rank() != 1)
      throw ShapeError("discriminator: the trunk must end in samples of [features] for the head, got " +
                       features.str() + " (end it with a Flatten)");
    head_ = this->add_part("head", Dense<T>(features[0], 1, Activation::identity(), Init::xavier_uniform), features);
    this->set_output_shape(Shape{1});
    this->initialize_default();
  }

  // Logits [N, 1].
  Var<T> forward(const Var<T>& x, const ForwardContext& ctx) const { return head_->forward(trunk_->forward(x, ctx)); }
  // Logits and the feature layer's output from one pass.
  LogitAndFeatures<T> forward_with_features(const Var<T>& x, const ForwardContext& ctx) const {
    Var<T> features;
    const Var<T> h = run_trunk(x, ctx, &features, false);
    return {head_->forward(h), features};
  }
  // The feature layer's output alone (the layers after it are not run).
  Var<T> features(const Var<T>& x, const ForwardContext& ctx) const {
    Var<T> features;
    run_trunk(x, ctx, &features, true);
    return features;
  }
  // True when train-mode features carry dropout noise (see the header comment).
  bool features_noisy() const {
    if constexpr (std::is_base_of_v<Sequential<T>, Net>) {
      if (feature_index_ >= 0) return trunk_->stochastic_through(feature_index_);
    }
    return trunk_->stochastic();
  }
  Net& trunk() { return *trunk_; }

 private:
  Var<T> run_trunk(const Var<T>& x, const ForwardContext& ctx, Var<T>* features, bool stop) const {
    if constexpr (std::is_base_of_v<Sequential<T>, Net>) {
      if (feature_index_ >= 0) return trunk_->forward_to(x, ctx, feature_index_, features, stop);
    }
    *features = trunk_->forward(x, ctx);
    return *features;
  }

  Net* trunk_ = nullptr;
  Dense<T>* head_ = nullptr;
  int feature_index_ = -1;
};

template <class Net>
Discriminator(const Shape&, Net) -> Discriminator<typename Net::Scalar, Net>;
template <class Net>
Discriminator(const Shape&, Net, const std::string&) -> Discriminator<typename Net::Scalar, Net>;

}  // namespace vaegan
