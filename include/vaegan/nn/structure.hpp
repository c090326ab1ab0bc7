#pragma once
// NetworkStructure: what a network is made of, as data: its layers (path, type,
// attributes, sample shapes in and out) and the tensors of its flat buffers (name, shape,
// offset, layout). Checkpoints and weight files store it, so loading into another network
// is refused naming the first layer that differs; exports record it so a reader can
// rebuild the network.
//
// Text form, one record per line, fields separated by tabs (no field holds a tab or a
// newline; parse() checks every field):
//   network    <name>  <input shape>  <output shape>
//   layer      <path>  <type>  <input shape>  <output shape>  [key=value ...]
//   parameter  <name>  <shape>  <offset>  same|transposed
//   buffer     <name>  <shape>  <offset>
// Shapes are written as Shape::str() writes them: "[1, 28, 28]".
#include <algorithm>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "vaegan/autodiff/parameters.hpp"
#include "vaegan/core/error.hpp"
#include "vaegan/core/shape.hpp"
#include "vaegan/nn/module.hpp"

namespace vaegan {

struct NetworkStructure {
  std::string name;
  Shape input, output;  // per sample
  std::vector<LayerDescription> layers;
  std::vector<ParameterSlice> parameters;
  std::vector<ParameterSlice> buffers;

  std::string to_text() const {
    std::ostringstream s;
    s << "network\t" << checked(name) << "\t" << input.str() << "\t" << output.str() << "\n";
    for (const auto& l : layers) {
      s << "layer\t" << checked(l.path) << "\t" << checked(l.type) << "\t" << l.input.str() << "\t" << l.output.str();
      for (const auto& [key, value] : l.attributes) s << "\t" << checked(key) << "=" << checked(value);
      s << "\n";
    }
    for (const auto& p : parameters)
      s << "parameter\t" << checked(p.name) << "\t" << p.shape.str() << "\t" << p.offset << "\t"
        << (p.torch_layout == TorchLayout::transposed ? "transposed" : "same") << "\n";
    for (const auto& b : buffers)
      s << "buffer\t" << checked(b.name) << "\t" << b.shape.str() << "\t" << b.offset << "\n";
    return s.str();
  }

  // Reads to_text()'s form; throws Error naming the line at fault.
  static NetworkStructure parse(const std::string& text) {
    NetworkStructure out;
    std::istringstream in(text);
    std::string line;
    int number = 0;
    bool header = false;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty()) continue;
      const std::vector<std::string> f = split(line);
      auto fail = [&](const std::string& why) -> void {
        throw Error("network structure, line " + std::to_string(number) + ": " + why);
      };
      auto need = [&](std::size_t n) {
        if (f.size() < n)
          fail("'" + f[0] + "' needs " + std::to_string(n) + " fields, got " + std::to_string(f.size()));
      };
      try {
        if (f[0] == "network") {
          need(4);
          out.name = f[1];
          out.input = parse_shape(f[2]);
          out.output = parse_shape(f[3]);
          header = true;
        } else if (f[0] == "layer") {
          need(5);
          LayerDescription l{f[1], f[2], {}, parse_shape(f[3]), parse_shape(f[4])};
          for (std::size_t i = 5; i < f.size(); ++i) {
            const auto eq = f[i].find('=');
            if (eq == std::string::npos) fail("attribute '" + f[i] + "' has no '='");
            l.attributes.emplace_back(f[i].substr(0, eq), f[i].substr(eq + 1));
          }
          out.layers.push_back(l);
        } else if (f[0] == "parameter" || f[0] == "buffer") {
          need(f[0] == "parameter" ? 5 : 4);
          ParameterSlice p{f[1], parse_shape(f[2]), parse_index(f[3]), TorchLayout::same};
          if (f[0] == "parameter") {
            if (f[4] == "transposed") p.torch_layout = TorchLayout::transposed;
            else if (f[4] != "same") fail("layout '" + f[4] + "' is neither 'same' nor 'transposed'");
            out.parameters.push_back(p);
          } else {
            out.buffers.push_back(p);
          }
        } else {
          fail("unknown record '" + f[0] + "'");
        }
      } catch (const ShapeError& e) {
        fail(e.what());
      }
    }
    if (!header) throw Error("network structure: no 'network' line");
    return out;
  }

  // "" when `other` has the same layers and tensors; else a sentence naming the first
  // difference and both sides (this = "this network", other = `other_label`).
  std::string first_difference(const NetworkStructure& other, const std::string& other_label) const {
    const std::size_t n = std::max(layers.size(), other.layers.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (i >= layers.size())
        return other_label + " has an extra layer " + layer_text(other.layers[i]) + " that this " + name + " lacks";
      if (i >= other.layers.size())
        return "this " + name + " has layer " + layer_text(layers[i]) + " where " + other_label + " has no more layers";
      const auto& a = layers[i];
      const auto& b = other.layers[i];
      if (a.path != b.path || a.type != b.type || a.input != b.input || a.output != b.output ||
          a.attributes != b.attributes)
        return "layer " + std::to_string(i) + " differs: " + other_label + " has " + layer_text(b) + ", this " + name +
               " has " + layer_text(a);
    }
    if (auto d = tensors_difference(parameters, other.parameters, "parameter", other_label); !d.empty()) return d;
    return tensors_difference(buffers, other.buffers, "buffer", other_label);
  }

  static std::string layer_text(const LayerDescription& l) {
    std::string s = "'" + l.path + "' " + l.type + " " + l.input.str() + " -> " + l.output.str();
    for (const auto& [key, value] : l.attributes) s += " " + key + "=" + value;
    return s;
  }

 private:
  std::string tensors_difference(const std::vector<ParameterSlice>& mine, const std::vector<ParameterSlice>& theirs,
                                 const char* kind, const std::string& other_label) const {
    const std::size_t n = std::max(mine.size(), theirs.size());
    for (std::size_t i = 0; i < n; ++i) {
      if (i >= mine.size()) return other_label + " has an extra " + kind + " '" + theirs[i].name + "'";
      if (i >= theirs.size()) return other_label + " lacks the " + kind + " '" + mine[i].name + "'";
      if (mine[i].name != theirs[i].name || mine[i].shape != theirs[i].shape)
        return std::string(kind) + " " + std::to_string(i) + " differs: " + other_label + " has '" + theirs[i].name +
               "' " + theirs[i].shape.str() + ", this " + name + " has '" + mine[i].name + "' " + mine[i].shape.str();
    }
    return "";
  }
  static const std::string& checked(const std::string& field) {
    if (field.find_first_of("\t\n") != std::string::npos)
      throw Error("network structure: the field '" + field + "' holds a tab or a newline");
    return field;
  }
  static std::vector<std::string> split(const std::string& line) {
    std::vector<std::string> f;
    std::string::size_type start = 0;
    while (true) {
      const auto tab = line.find('\t', start);
      f.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos) break;
      start = tab + 1;
    }
    return f;
  }
  static Index parse_index(const std::string& v) {
    char* end = nullptr;
    const long long x = std::strtoll(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || x < 0 || x > (Index{1} << 40)) throw ShapeError("'" + v + "' is not a size");
    return static_cast<Index>(x);
  }
  // "[a, b, c]" -> Shape{a, b, c}
  static Shape parse_shape(const std::string& v) {
    if (v.size() < 3 || v.front() != '[' || v.back() != ']') throw ShapeError("'" + v + "' is not a shape");
    std::vector<Index> dims;
    std::istringstream parts(v.substr(1, v.size() - 2));
    std::string part;
    while (std::getline(parts, part, ',')) {
      if (!part.empty() && part.front() == ' ') part.erase(0, 1);
      dims.push_back(parse_index(part));
    }
    switch (dims.size()) {
      case 1: return Shape{dims[0]};
      case 2: return Shape{dims[0], dims[1]};
      case 3: return Shape{dims[0], dims[1], dims[2]};
      case 4: return Shape{dims[0], dims[1], dims[2], dims[3]};
      default: throw ShapeError("'" + v + "' has rank " + std::to_string(dims.size()) + ", not 1 to 4");
    }
  }
};

}  // namespace vaegan
