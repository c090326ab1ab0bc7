// vaegan_export: writes the networks of a training checkpoint (mnist_vaegan, mnist_gan,
// mnist_vae, or any program that saved with save_training_checkpoint) as one
// .safetensors file that PyTorch and other frameworks load without vaegan
// (docs/safetensors.md). No trainer is built: composed (non-preset) models export too.
//
//   vaegan_export --checkpoint run/ckpt.bin --out run/model.safetensors
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <vaegan/io/safetensors.hpp>

#include "common/cli.hpp"

int main(int argc, char** argv) {
  std::string checkpoint, out;
  cli::Parser p("vaegan_export",
                "Export the networks of a training checkpoint as safetensors (float32, PyTorch layout).");
  p.add("checkpoint", &checkpoint, "checkpoint file written by a training program (required)");
  p.add("out", &out, "the .safetensors file to write (required; replaced atomically)");
  p.require([&] { return !checkpoint.empty(); }, "--checkpoint is required");
  p.require([&] { return !out.empty(); }, "--out is required (e.g. --out model.safetensors)");
  p.parse(argc, argv);
  try {
    std::error_code ec;
    if (!std::filesystem::exists(checkpoint, ec))
      throw vaegan::IoError("no checkpoint at '" + checkpoint + "'; pass --checkpoint a file a training program wrote");
    if (std::filesystem::is_directory(out, ec))
      throw vaegan::IoError("--out '" + out + "' is a directory; pass a file name");
    const vaegan::SafetensorsWriter file = vaegan::safetensors_from_checkpoint(vaegan::CheckpointReader(checkpoint));
    const std::size_t bytes = file.save(out, "--out");
    std::cout << "vaegan_export: wrote " << out << " (" << file.tensor_count() << " tensors, " << bytes << " bytes)\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vaegan_export: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
