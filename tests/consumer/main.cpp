// Compiled against an installed vaegan, through find_package(vaegan) and through
// pkg-config: proves the installed headers and the dependencies the package declares
// (Eigen, OpenMP, zlib, stb) are enough to build and run a training step.
#include <cmath>
#include <cstdio>

#include <zlib.h>
#include <vaegan/vaegan.hpp>

#if !__has_include(<stb_image_write.h>)
#error "the vaegan package must put stb_image_write.h on the include path"
#endif
#ifndef _OPENMP
#error "the vaegan package must enable OpenMP"
#endif

int main() {
  using namespace vaegan;
  Rng rng(7);
  Sequential<float> net({3, 4, 2}, {Activation::relu(), Activation::identity()}, rng);
  Tape<float> tape;
  Tensor<float> x(Shape{2, 3}, {0.5f, -1.0f, 2.0f, 1.5f, 0.25f, -0.75f});
  Var<float> out = net(tape.constant(x), ForwardContext::train());
  Var<float> loss = mse(out, tape.full(out.shape(), 0.0f));
  tape.backward(loss, {net.parameters()});

  const float grad_norm = net.parameters().grads().array().matrix().norm();
  if (out.rows() != 2 || out.cols() != 2 || !std::isfinite(loss.item()) || !(grad_norm > 0.0f)) {
    std::fprintf(stderr, "consumer: unexpected result: out %s, loss %g, |grad| %g\n", out.shape().str().c_str(),
                 static_cast<double>(loss.item()), static_cast<double>(grad_norm));
    return 1;
  }
  // The version line is what install_test.cmake compares with the version it installed.
  std::printf("vaegan %d.%d.%d (zlib %s, %d OpenMP threads)\n", VAEGAN_VERSION_MAJOR, VAEGAN_VERSION_MINOR,
              VAEGAN_VERSION_PATCH, zlibVersion(), omp_get_max_threads());
  return 0;
}
