// match_dump: runs vaegan's Conv2d, ConvTranspose2d, BatchNorm1d and BatchNorm2d layers
// (alone, and composed as the `conv` preset's networks) on fixed parameters and inputs and
// writes what they compute, for benchmarks/reference/match_torch.py to compare with
// PyTorch. Not a test of its own: match_torch.py compiles it, feeds it and judges it.
//
//   match_dump layout <spec>                                  -> stdout: every case's tensors
//   match_dump run <double|float> <spec> <data.bin> <out.bin>
//
// <spec> is a text file of cases, each
//   case <name> <train|eval> <batch> <rank> <sample dims...>
//   layer conv2d <in> <out> <kernel> <stride> <padding>
//   layer convT <in> <out> <kernel> <stride> <padding> <output_padding>
//   layer bn1d <features> <eps> <momentum>
//   layer bn2d <channels> <eps> <momentum>
//   layer linear <in> <out>
//   layer lrelu <slope> | layer relu | layer flatten | layer reshape <rank> <dims...>
//   end
// Each case is one Network "net" holding a Sequential of those layers, so its parameters
// and buffers carry vaegan's names ("net.0.weight", ...; PyTorch's with "net." in front).
//
// `layout` prints, per case, "case <name> <output rank> <output dims...>", then one line
// per parameter ("param <name> <offset> <numel> <same|transposed> <rank> <dims...>") and
// per buffer ("buffer <name> <offset> <numel> <rank> <dims...>"), then "end".
//
// `run` reads <data.bin>, float64 little-endian, per case in spec order: the flat parameter
// values (every parameter in layout order, each in vaegan's layout), the flat buffers, the
// input x [batch, sample...] and the weights R of the output (its shape). It runs, in T =
// double or float (values rounded to T on the way in):
//   y = net(x) in the case's mode (train: batch statistics, running statistics updated;
//   eval: running statistics); loss = sum(y * R); backward to x and every parameter
// and appends to <out.bin>, float64: y, dL/dx, the flat parameter gradients, and the flat
// buffers after the forward.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

namespace {

using vaegan::Index;
using vaegan::Shape;

struct LayerSpec {
  std::string kind;
  std::vector<double> args;
};

struct CaseSpec {
  std::string name;
  bool train = true;
  Index batch = 1;
  std::vector<Index> sample;
  std::vector<LayerSpec> layers;
};

Shape shape_of(const std::vector<Index>& d) {
  switch (d.size()) {
    case 1: return Shape{d[0]};
    case 2: return Shape{d[0], d[1]};
    case 3: return Shape{d[0], d[1], d[2]};
    case 4: return Shape{d[0], d[1], d[2], d[3]};
    default: throw std::runtime_error("match_dump: rank must be 1 to 4");
  }
}

std::vector<CaseSpec> read_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("match_dump: cannot read " + path);
  std::vector<CaseSpec> cases;
  std::string line;
  CaseSpec* current = nullptr;
  while (std::getline(in, line)) {
    std::istringstream s(line);
    std::string word;
    if (!(s >> word) || word[0] == '#') continue;
    if (word == "case") {
      cases.emplace_back();
      current = &cases.back();
      std::string mode;
      int rank = 0;
      s >> current->name >> mode >> current->batch >> rank;
      if (mode != "train" && mode != "eval") throw std::runtime_error("match_dump: mode " + mode);
      current->train = mode == "train";
      current->sample.resize(static_cast<std::size_t>(rank));
      for (auto& d : current->sample) s >> d;
    } else if (word == "layer") {
      if (current == nullptr) throw std::runtime_error("match_dump: layer outside a case");
      LayerSpec l;
      s >> l.kind;
      double v;
      while (s >> v) l.args.push_back(v);
      current->layers.push_back(l);
    } else if (word == "end") {
      current = nullptr;
    } else {
      throw std::runtime_error("match_dump: unknown spec line: " + line);
    }
    if (s.fail() && !s.eof()) throw std::runtime_error("match_dump: bad spec line: " + line);
  }
  return cases;
}

template <class T>
vaegan::Network<T> build(const CaseSpec& c) {
  vaegan::Sequential<T> seq;
  for (const LayerSpec& l : c.layers) {
    auto a = [&](std::size_t i) {
      if (i >= l.args.size()) throw std::runtime_error("match_dump: layer " + l.kind + " needs more arguments");
      return static_cast<Index>(l.args[i]);
    };
    if (l.kind == "conv2d") {
      seq.add(vaegan::Conv2d<T>(a(0), a(1), a(2), a(3), a(4)));
    } else if (l.kind == "convT") {
      seq.add(vaegan::ConvTranspose2d<T>(a(0), a(1), a(2), a(3), a(4), a(5)));
    } else if (l.kind == "bn1d") {
      seq.add(vaegan::BatchNorm1d<T>(a(0), l.args.at(1), l.args.at(2)));
    } else if (l.kind == "bn2d") {
      seq.add(vaegan::BatchNorm2d<T>(a(0), l.args.at(1), l.args.at(2)));
    } else if (l.kind == "linear") {
      seq.add(vaegan::Dense<T>(a(0), a(1)));
    } else if (l.kind == "lrelu") {
      seq.add(vaegan::LeakyReLU<T>(l.args.at(0)));
    } else if (l.kind == "relu") {
      seq.add(vaegan::ReLU<T>());
    } else if (l.kind == "flatten") {
      seq.add(vaegan::Flatten<T>());
    } else if (l.kind == "reshape") {
      std::vector<Index> d;
      for (Index i = 0; i < a(0); ++i) d.push_back(a(static_cast<std::size_t>(1 + i)));
      seq.add(vaegan::Reshape<T>(shape_of(d)));
    } else {
      throw std::runtime_error("match_dump: unknown layer " + l.kind);
    }
  }
  return vaegan::Network<T>("net", shape_of(c.sample), std::move(seq));
}

std::string dims(const Shape& s) {
  std::string out = std::to_string(s.rank());
  for (int i = 0; i < s.rank(); ++i) out += " " + std::to_string(s[i]);
  return out;
}

void print_layout(const std::vector<CaseSpec>& cases) {
  for (const CaseSpec& c : cases) {
    vaegan::Network<double> net = build<double>(c);
    std::cout << "case " << c.name << " " << dims(net.output_shape()) << "\n";
    const auto& params = net.parameters();
    for (const auto& s : params.slices())
      std::cout << "param " << s.name << " " << s.offset << " " << s.shape.numel() << " "
                << (s.torch_layout == vaegan::TorchLayout::same ? "same" : "transposed") << " " << dims(s.shape)
                << "\n";
    for (const auto& s : params.buffer_slices())
      std::cout << "buffer " << s.name << " " << s.offset << " " << s.shape.numel() << " " << dims(s.shape) << "\n";
    std::cout << "end\n";
  }
}

std::vector<double> read_doubles(std::FILE* f, Index n, const std::string& what) {
  std::vector<double> v(static_cast<std::size_t>(n));
  if (n > 0 && std::fread(v.data(), sizeof(double), v.size(), f) != v.size())
    throw std::runtime_error("match_dump: data file ends inside " + what);
  return v;
}

template <class P>
void write_doubles(std::FILE* f, const P* p, Index n) {
  std::vector<double> v(p, p + n);
  if (n > 0 && std::fwrite(v.data(), sizeof(double), v.size(), f) != v.size())
    throw std::runtime_error("match_dump: cannot write the output");
}

template <class T>
void run_case(const CaseSpec& c, std::FILE* data, std::FILE* out) {
  vaegan::Network<T> net = build<T>(c);
  auto& params = net.parameters();
  const std::vector<double> values = read_doubles(data, params.size(), c.name + " parameters");
  std::copy(values.begin(), values.end(), params.values().data());
  const std::vector<double> buffers = read_doubles(data, params.buffers().numel(), c.name + " buffers");
  std::copy(buffers.begin(), buffers.end(), params.buffers().data());

  std::vector<Index> xd{c.batch};
  xd.insert(xd.end(), c.sample.begin(), c.sample.end());
  vaegan::Tensor<T> x(shape_of(xd));
  const std::vector<double> xv = read_doubles(data, x.numel(), c.name + " x");
  std::copy(xv.begin(), xv.end(), x.data());

  const Shape out_sample = net.output_shape();
  std::vector<Index> yd{c.batch};
  for (int i = 0; i < out_sample.rank(); ++i) yd.push_back(out_sample[i]);
  vaegan::Tensor<T> r(shape_of(yd));
  const std::vector<double> rv = read_doubles(data, r.numel(), c.name + " R");
  std::copy(rv.begin(), rv.end(), r.data());

  vaegan::Tape<T> tape;
  vaegan::Var<T> xvar = tape.variable(x);
  const vaegan::ForwardContext ctx =
      c.train ? vaegan::ForwardContext::train_without_noise() : vaegan::ForwardContext::eval();
  vaegan::Var<T> y = net.forward(xvar, ctx);
  if (y.shape() != r.shape())
    throw std::runtime_error("match_dump: " + c.name + ": output " + y.shape().str() + ", expected " + r.shape().str());
  vaegan::Var<T> loss = vaegan::sum(vaegan::mul(y, tape.constant(r)));
  params.zero_grad();
  tape.backward(loss, {params, xvar});

  write_doubles(out, y.node().value, y.numel());
  const auto dx = xvar.grad();
  write_doubles(out, dx.data(), x.numel());
  write_doubles(out, params.grads().data(), params.size());
  write_doubles(out, params.buffers().data(), params.buffers().numel());
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string verb = argc > 1 ? argv[1] : "";
    if (verb == "layout" && argc == 3) {
      print_layout(read_spec(argv[2]));
      return 0;
    }
    if (verb == "run" && argc == 6) {
      const std::string type = argv[2];
      const std::vector<CaseSpec> cases = read_spec(argv[3]);
      std::FILE* data = std::fopen(argv[4], "rb");
      std::FILE* out = std::fopen(argv[5], "wb");
      if (data == nullptr || out == nullptr) throw std::runtime_error("match_dump: cannot open the data files");
      for (const CaseSpec& c : cases) {
        if (type == "double") run_case<double>(c, data, out);
        else if (type == "float") run_case<float>(c, data, out);
        else throw std::runtime_error("match_dump: type must be double or float");
      }
      if (std::fgetc(data) != EOF) throw std::runtime_error("match_dump: data left over after the last case");
      std::fclose(data);
      if (std::fclose(out) != 0) throw std::runtime_error("match_dump: cannot write the output");
      return 0;
    }
    std::fprintf(stderr,
                 "usage: match_dump layout <spec>\n"
                 "       match_dump run <double|float> <spec> <data.bin> <out.bin>\n");
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
