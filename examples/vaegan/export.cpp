// vaegan export: writes the networks of a training checkpoint (vaegan train, or any
// program that saved with save_training_checkpoint) as one
// .safetensors file that PyTorch and other frameworks load without vaegan
// (docs/safetensors.md). No trainer is built: composed (non-preset) models export too.
//
//   vaegan export --checkpoint run/checkpoint.vgck --safetensors run/model.safetensors
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <vaegan/io/safetensors.hpp>

#include "cli.hpp"
#include "commands.hpp"

int commands::export_weights(int argc, char** argv) {
  std::string checkpoint, out;
  cli::Parser p(argv[0], "Export the networks of a training checkpoint as safetensors (float32, PyTorch layout).");
  p.add("c,checkpoint", &checkpoint, "checkpoint file written by a training program (required)", "FILE");
  p.add("safetensors", &out, "the .safetensors file to write (required; replaced atomically)", "FILE");
  p.require([&] { return !checkpoint.empty(); }, "--checkpoint is required");
  p.require([&] { return !out.empty(); }, "--safetensors is required (e.g. --safetensors model.safetensors)");
  p.parse(argc, argv);
  try {
    std::error_code ec;
    if (!std::filesystem::exists(checkpoint, ec))
      throw vaegan::IoError("no checkpoint at '" + checkpoint + "'; pass --checkpoint a file a training program wrote");
    if (std::filesystem::is_directory(out, ec))
      throw vaegan::IoError("--safetensors '" + out + "' is a directory; pass a file name");
    const vaegan::SafetensorsWriter file = vaegan::safetensors_from_checkpoint(vaegan::CheckpointReader(checkpoint));
    const std::size_t bytes = file.save(out, "--safetensors");
    std::cout << "vaegan export: wrote " << out << " (" << file.tensor_count() << " tensors, " << bytes << " bytes)\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vaegan export: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
