// Writes a training report for tests/report/report_page_test.py: a tiny VAE-GAN trained for
// three epochs on synthetic 8 x 8 images with every library callback that writes a file
// the report shows (losses, samples and reconstructions, FID), then the report itself.
// Usage: make_report OUT_DIR
#include <cstdint>
#include <exception>
#include <iostream>
#include <vector>

#include <vaegan/vaegan.hpp>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_report OUT_DIR\n";
    return 2;
  }
  try {
    using namespace vaegan;
    ModelConfig config;
    config.preset = "report-test";
    config.image_shape = Shape{1, 8, 8};
    config.latent_dim = 4;
    config.encoder_hidden = {32};
    config.decoder_hidden = {32};
    config.discriminator_hidden = {32};
    // Bars: each image one lit row or column, a data set a tiny model learns in seconds.
    const Index count = 256;
    Tensor<float> images(Shape{count, 1, 8, 8});
    std::vector<std::uint8_t> labels;
    for (Index i = 0; i < count; ++i) {
      const Index k = i % 16;
      for (Index p = 0; p < 64; ++p) images[i * 64 + p] = (k < 8 ? p / 8 == k : p % 8 == k - 8) ? 1.0f : 0.0f;
      labels.push_back(static_cast<std::uint8_t>(k < 8 ? 0 : 1));
    }
    const ImageDataset<float> data(images, labels, 8, 8);
    Tensor<float> shown(Shape{8, 1, 8, 8});
    std::copy(images.data(), images.data() + shown.numel(), shown.data());

    ClassifierConfig cc;
    cc.image_shape = config.image_shape;
    cc.hidden = {16};
    cc.classes = 2;
    const Classifier<float> classifier(cc, 1);
    const Evaluator<float> evaluator(classifier, images);

    VaeGanTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({32, 1});
    FitOptions options;
    options.epochs = 3;
    const std::string out = argv[1];
    fit(trainer, batches, options, LossLog{out}, SampleGrid{out, Every::epochs(1), 16}.with_reconstructions(shown),
        ScoreSamples<float>{out, evaluator, Every::epochs(1), 64}, Checkpoint{out + "/checkpoint.vgck"},
        TrainingReport{out, "report test", {{"data", "256 synthetic 8 x 8 bars"}}});
    std::cout << "make_report: wrote " << out << "/report.html\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "make_report: error: " << e.what() << "\n";
    return 1;
  }
}
