// vaegan eval: scores any IDX image file (for example images sampled by another framework)
// against a real IDX set: FID in the classifier's feature space, improved precision and
// recall, and mode coverage. With --floor, also prints the FID between two disjoint real
// halves of the same size (the best a generator can hope for at that sample size).
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"
#include "commands.hpp"
#include "data.hpp"
#include "dataset_flag.hpp"

namespace {
vaegan::Tensor<float> to_tensor(const vaegan::IdxImages& idx) {
  vaegan::Tensor<float> t(vaegan::Shape::matrix(idx.count, idx.values_per_image()));
  for (std::size_t i = 0; i < idx.pixels.size(); ++i) t[static_cast<vaegan::Index>(i)] = idx.pixels[i] / 255.0f;
  return t;
}
vaegan::Tensor<float> rows(const vaegan::Tensor<float>& t, vaegan::Index begin, vaegan::Index end) {
  vaegan::Tensor<float> out(vaegan::Shape::matrix(end - begin, t.cols()));
  std::copy(t.data() + begin * t.cols(), t.data() + end * t.cols(), out.data());
  return out;
}
// A JSON string literal: paths may hold quotes, backslashes (Windows) or control bytes.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}
// A JSON number, or null for a score that was not computed (JSON has no NaN or infinity).
std::string json_number(double v, bool present = true) {
  if (!present || !std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
std::string json_integer(long long v, bool present = true) { return present ? std::to_string(v) : "null"; }
// Reads an IDX images file named by `flag`; errors say what the flag takes. Files of
// images with channels ([count, C, rows, cols], as vaegan sample writes for a colour model)
// are read too: the classifier scores whatever shape it was trained on (checked in main).
vaegan::IdxImages read_images(const std::string& path, const char* flag, const char* example) {
  try {
    return vaegan::read_idx_images(path, vaegan::IdxImageDims::with_channels);
  } catch (const vaegan::IoError& e) {
    throw vaegan::IoError(std::string(e.what()) + "; " + flag + " takes an IDX images file (" + example + ")");
  }
}
// The command line of vaegan eval.
struct EvalFlags {
  std::string classifier_path = "out/classifier.vgck", real_path, generated_path, format = "text";
  bool floor = false;
  std::int64_t k = 3, threads = 0;
  examples::DatasetFlags data_set;

  void parse(int argc, char** argv) {
    cli::Parser p(argv[0], "Score generated images (IDX) against real images (IDX): FID, precision, recall, coverage.");
    p.group("Images");
    p.add("generated", &generated_path, "IDX file of generated images (vaegan sample --idx writes one)", "FILE");
    p.add("real", &real_path,
          "IDX file of held-out real images (default: the test images of --dataset: its IDX test file in --data, or "
          "an image folder's test split)",
          "FILE");
    data_set.add(p);
    p.group("Scoring");
    p.add("classifier", &classifier_path, "classifier checkpoint (vaegan classifier writes one)", "FILE");
    p.add("k", &k, "neighbours for the precision/recall manifolds");
    p.add_switch("floor", &floor, "also report the FID between two disjoint halves of the real set");
    p.add("format", &format, "output: text or json", "FORMAT");
    p.add("t,threads", &threads, "threads (0: all cores)");
    p.require([this] { return !generated_path.empty() || floor; }, "give --generated (or --floor)");
    p.require([this] { return format == "text" || format == "json"; }, "--format must be text or json");
    p.require([this] { return k >= 1 && k <= 100; }, [this] { return "--k must be 1..100, got " + std::to_string(k); });
    p.require([this] { return threads >= 0; },
              [this] { return "--threads must be >= 0 (0: all cores), got " + std::to_string(threads); });
    p.parse(argc, argv);
    data_set.resolve(p);
  }
};

vaegan::Classifier<float> load_classifier(const std::string& path) {
  try {
    return vaegan::Classifier<float>::load(path);
  } catch (const vaegan::IoError& e) {
    throw vaegan::IoError(std::string(e.what()) + "; pass --classifier a file that vaegan classifier wrote");
  }
}

// The real images: --real, else the data set's test images (an IDX file in --data, or an
// image folder's test split). Sets f.real_path to what it read, for the messages.
vaegan::Tensor<float> load_real_images(EvalFlags& f, const vaegan::Classifier<float>& classifier) {
  const bool folder_test_split = f.real_path.empty() && f.data_set.is_folder();
  vaegan::Tensor<float> real;
  if (folder_test_split) {
    f.real_path = f.data_set.data + " (test split)";
    real = examples::load_split<float>(f.data_set, "test").images();
  } else {
    real = to_tensor(read_images(f.real_path, "--real", "e.g. data/t10k-images-idx3-ubyte"));
  }
  if (real.cols() != classifier.config().input_dim())
    throw vaegan::IoError(f.real_path + ": images have " + std::to_string(real.cols()) +
                          " values per image but the classifier expects " +
                          std::to_string(classifier.config().input_dim()) +
                          "; pass --real images of the size the classifier was trained on");
  return real;
}

// Precision and recall build k-nearest-neighbour balls: each set needs more than k images.
void check_count(const vaegan::Tensor<float>& images, const std::string& path, const char* flag, std::int64_t k) {
  if (images.rows() <= k)
    throw vaegan::IoError(std::string(flag) + " " + path + " holds " + std::to_string(images.rows()) +
                          " images, but k = " + std::to_string(k) + " needs more than " + std::to_string(k) +
                          "; pass a smaller --k or more images");
}

void print_scores(const EvalFlags& f, const vaegan::SampleScores& s, double floor_fid, vaegan::Index real_count,
                  int classes) {
  if (f.format == "json") {
    // Scores that were not asked for are null, never a number that reads as a result.
    const bool scored = !f.generated_path.empty();
    std::printf(
        "{\"generated\": %s, \"count\": %s, \"fid\": %s, \"precision\": %s, \"recall\": %s, "
        "\"classes_covered\": %s, \"kl_to_uniform\": %s, \"fid_floor\": %s}\n",
        scored ? json_string(f.generated_path).c_str() : "null", json_integer(s.count, scored).c_str(),
        json_number(s.fid, scored).c_str(), json_number(s.precision, scored).c_str(),
        json_number(s.recall, scored).c_str(), json_integer(s.classes_covered, scored && s.has_coverage()).c_str(),
        json_number(s.kl_to_uniform, scored && s.has_coverage()).c_str(), json_number(floor_fid, f.floor).c_str());
    return;
  }
  if (!f.generated_path.empty()) {
    std::printf("%s: %lld images\n  FID %.3f\n  precision %.3f  recall %.3f\n", f.generated_path.c_str(),
                static_cast<long long>(s.count), s.fid, s.precision, s.recall);
    if (s.has_coverage())
      std::printf("  classes covered %d/%d  KL(hist||uniform) %.4f\n", s.classes_covered, classes, s.kl_to_uniform);
    else std::printf("  classes covered: not measured (a rotation classifier: the data set has no classes)\n");
  }
  if (f.floor)
    std::printf("FID floor (two disjoint halves of %s, %lld images each): %.3f\n", f.real_path.c_str(),
                static_cast<long long>(real_count / 2), floor_fid);
}
}  // namespace

int commands::eval(int argc, char** argv) {
  EvalFlags f;
  f.parse(argc, argv);
  try {
    if (f.real_path.empty() && !f.data_set.is_folder()) {  // the IDX data set's test images
      try {
        f.real_path = vaegan::find_mnist_files(f.data_set.data, "test").images;
      } catch (const vaegan::IoError&) {
        throw vaegan::IoError("no --real given, and the " + f.data_set.choice.title + " test images are not in '" +
                              f.data_set.data + "': " + f.data_set.choice.fix_for(f.data_set.data) +
                              "; or pass --real FILE");
      }
    }
    if (f.threads > 0) vaegan::set_num_threads(static_cast<int>(f.threads));
    const auto classifier = load_classifier(f.classifier_path);
    const vaegan::Tensor<float> real = load_real_images(f, classifier);
    check_count(real, f.real_path, "--real", f.k);
    const vaegan::Evaluator<float> evaluator(classifier, real, static_cast<int>(f.k));
    double floor_fid = -1;
    if (f.floor) {
      const vaegan::Index half = real.rows() / 2;
      floor_fid = vaegan::frechet_distance(rows(evaluator.real_features(), 0, half),
                                           rows(evaluator.real_features(), half, 2 * half));
    }
    vaegan::SampleScores s;
    if (!f.generated_path.empty()) {
      const vaegan::Tensor<float> generated =
          to_tensor(read_images(f.generated_path, "--generated", "vaegan sample --idx writes one"));
      if (generated.cols() != real.cols())
        throw vaegan::IoError(f.generated_path + ": images have " + std::to_string(generated.cols()) +
                              " values per image, the real set " + std::to_string(real.cols()) +
                              "; pass --generated images of the same size as --real");
      check_count(generated, f.generated_path, "--generated", f.k);
      s = evaluator.score(generated);
    }
    print_scores(f, s, floor_fid, real.rows(), classifier.config().classes);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "vaegan eval: error: " << e.what() << "\n";
    return cli::kExitRuntime;
  }
}
