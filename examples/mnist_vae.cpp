// mnist_vae: trains the plain VAE on MNIST (same encoder and decoder shapes as the
// VAE-GAN). `mnist_vae --help` lists the flags.
#include "common/train_main.hpp"

int main(int argc, char** argv) { return examples::run_training<examples::VaeSpec>(argc, argv); }
