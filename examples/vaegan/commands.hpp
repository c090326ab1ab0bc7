#pragma once
// The subcommands of the `vaegan` program (main.cpp lists them). Each is a function of the
// arguments after its name (argv[0] is "vaegan <name>", as help and errors show it) that
// returns the exit code: 0 done, 1 runtime error, 2 usage error (examples/common/cli.hpp).
namespace commands {

int train(int argc, char** argv);
int sample(int argc, char** argv);
int reconstruct(int argc, char** argv);
int interpolate(int argc, char** argv);
int export_weights(int argc, char** argv);
int import_weights(int argc, char** argv);
int eval(int argc, char** argv);
int compare(int argc, char** argv);
int classifier(int argc, char** argv);
int prepare_mnist(int argc, char** argv);

}  // namespace commands
