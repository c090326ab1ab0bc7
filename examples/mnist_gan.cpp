// mnist_gan: trains the plain GAN baseline on MNIST (same generator and discriminator
// shapes as the VAE-GAN). `mnist_gan --help` lists the flags.
#include "common/train_main.hpp"

int main(int argc, char** argv) { return examples::run_training<examples::GanSpec>(argc, argv); }
