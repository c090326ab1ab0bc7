// vaegan import: the reverse of vaegan export. Writes a copy of a training checkpoint whose
// networks' weights come from a .safetensors file (a state dict trained or edited in
// PyTorch with vaegan's tensor names, or another run's export), so a training program
// continues from them with --resume (docs/safetensors.md). No trainer is built: composed
// (non-preset) models import too.
//
//   vaegan import --checkpoint run/checkpoint.vgck --weights tuned.safetensors --save run/imported.vgck
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <vaegan/io/checkpoint_import.hpp>

#include "cli.hpp"
#include "commands.hpp"

int commands::import_weights(int argc, char** argv) {
  std::string checkpoint, weights, out;
  vaegan::CheckpointImportOptions options;
  cli::Parser p(argv[0],
                "Replace the weights of a training checkpoint by those of a safetensors file (PyTorch names and "
                "layout, F32 or F64).");
  p.add("c,checkpoint", &checkpoint, "checkpoint file written by a training program (required)", "FILE");
  p.add("weights", &weights, "the .safetensors file with the new weights (required)", "FILE");
  p.add("save", &out, "the checkpoint to write (required; may be --checkpoint itself; replaced atomically)", "FILE");
  p.add_switch("reset-optimizer", &options.reset_optimizer,
               "zero every network's Adam moments and step count (the old ones belong to the old weights)");
  p.add_switch("allow-unused", &options.load.allow_unused, "ignore tensors no network takes instead of refusing");
  p.require([&] { return !checkpoint.empty(); }, "--checkpoint is required");
  p.require([&] { return !weights.empty(); }, "--weights is required (e.g. --weights model.safetensors)");
  p.require([&] { return !out.empty(); }, "--save is required (e.g. --save imported.vgck)");
  p.parse(argc, argv);
  try {
    std::error_code ec;
    if (!std::filesystem::exists(checkpoint, ec))
      throw vaegan::IoError("no checkpoint at '" + checkpoint + "'; pass --checkpoint a file a training program wrote");
    if (!std::filesystem::exists(weights, ec))
      throw vaegan::IoError("no weights file at '" + weights + "'; pass --weights a .safetensors file");
    if (std::filesystem::is_directory(out, ec))
      throw vaegan::IoError("--save '" + out + "' is a directory; pass a file name");
    vaegan::import_safetensors_into_checkpoint(checkpoint, weights, out, options);
    std::cout << "vaegan import: wrote " << out << " (" << checkpoint << " with the weights of " << weights
              << (options.reset_optimizer ? ", Adam reset" : "") << ")\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vaegan import: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
