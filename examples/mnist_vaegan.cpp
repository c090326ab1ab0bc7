// mnist_vaegan: trains a VAE-GAN (Larsen et al. 2016) on MNIST and writes samples,
// reconstructions, loss curves and checkpoints. `mnist_vaegan --help` lists the flags.
#include "common/train_main.hpp"

int main(int argc, char** argv) { return examples::run_training<examples::VaeGanSpec>(argc, argv); }
