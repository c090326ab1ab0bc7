// fit()'s callback protocol and the library's training callbacks (train/callbacks/).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"
#include "train/train_test_util.hpp"
#include "vaegan/io/csv.hpp"
#include "vaegan/metrics/evaluator.hpp"
#include "vaegan/train/callbacks.hpp"

using namespace vaegan;
using namespace vaegan::train_test;

namespace {

using vaegan::test::contains;

using vaegan::test::message_of;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Records the hooks it sees, and asks to stop after a given step or epoch.
struct Recorder {
  std::vector<std::string>* log;
  std::int64_t stop_after_step = -1;
  std::int64_t stop_after_epoch = -1;
  template <class Run>
  void on_fit_begin(Run& run) {
    log->push_back("begin " + std::to_string(run.first_step) + "/" + std::to_string(run.total_steps));
  }
  template <class Run>
  bool on_step(Run&, const StepEvent& e) {
    log->push_back("step " + std::to_string(e.step));
    return e.step != stop_after_step;
  }
  template <class Run>
  bool on_epoch(Run&, const EpochEvent& e) {
    log->push_back("epoch " + std::to_string(e.epoch));
    return e.epoch != stop_after_epoch;
  }
  template <class Run>
  void on_fit_end(Run&, const FitEndEvent& e) {
    log->push_back(std::string("end ") + fit_end_name(e.reason) + (e.mid_epoch ? " mid-epoch" : ""));
  }
};

// Only an on_epoch that returns void: the hooks it lacks are skipped.
struct EpochCounter {
  int* count;
  void on_epoch(const std::vector<int>&) {}  // not a hook's signature: never called
  template <class Run>
  void on_epoch(Run&, const EpochEvent&) {
    ++*count;
  }
};

// Keeps a copy of a file after every epoch.
struct PageReader {
  std::vector<std::string>* pages;
  std::string path;
  template <class Run>
  void on_epoch(Run&, const EpochEvent&) {
    pages->push_back(read_text(path));
  }
};

}  // namespace

TEST_CASE("fit: callbacks see begin, every step, every epoch and the end, in the order given") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 3);  // 3 batches of 16
  VaeTrainer<float> trainer(config, {}, 1);
  Batches<float> batches = data.batches({16, 1});
  std::vector<std::string> a, b;
  int epochs_counted = 0;
  FitOptions options;
  options.epochs = 2;
  CHECK(fit(trainer, batches, options, Recorder{&a}, EpochCounter{&epochs_counted}, Recorder{&b}) ==
        FitEnd::epochs_done);
  const std::vector<std::string> expected{"begin 0/6", "step 1", "step 2", "step 3",  "epoch 1",
                                          "step 4",    "step 5", "step 6", "epoch 2", "end epochs done"};
  CHECK(a == expected);
  CHECK(b == expected);
  CHECK(epochs_counted == 2);
}

TEST_CASE("fit: a stop asked for by on_step comes before the next batch, but closes a finished epoch first") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 3);
  SUBCASE("mid-epoch") {
    VaeTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({16, 1});
    std::vector<std::string> log, other;
    FitOptions options;
    options.epochs = 3;
    // The second callback does not ask to stop; it still sees every hook until the end.
    CHECK(fit(trainer, batches, options, Recorder{&log, 2}, Recorder{&other}) == FitEnd::stopped_by_callback);
    CHECK(trainer.step() == 2);
    CHECK(log == std::vector<std::string>{"begin 0/9", "step 1", "step 2", "end stopped by a callback mid-epoch"});
    CHECK(other == log);
  }
  SUBCASE("at an epoch's last batch") {
    VaeTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({16, 1});
    std::vector<std::string> log;
    FitOptions options;
    options.epochs = 3;
    CHECK(fit(trainer, batches, options, Recorder{&log, 3}) == FitEnd::stopped_by_callback);
    CHECK(trainer.step() == 3);
    CHECK(trainer.epoch() == 1);
    CHECK(log ==
          std::vector<std::string>{"begin 0/9", "step 1", "step 2", "step 3", "epoch 1", "end stopped by a callback"});
  }
  SUBCASE("from on_epoch, and the old FitCallbacks still work beside new callbacks") {
    VaeTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({16, 1});
    std::vector<std::string> log;
    int steps_seen = 0;
    FitCallbacks functions;
    functions.on_step = [&](const StepEvent&) { ++steps_seen; };
    FitOptions options;
    options.epochs = 5;
    CHECK(fit(trainer, batches, options, functions, Recorder{&log, -1, 2}) == FitEnd::stopped_by_callback);
    CHECK(trainer.epoch() == 2);
    CHECK(steps_seen == 6);
    CHECK(log.back() == "end stopped by a callback");
  }
}

TEST_CASE("fit: FitRun's plan counts from where a resumed run stands, and limits end as FitEndEvent says") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 3);
  VaeTrainer<float> trainer(config, {}, 1);
  Batches<float> batches = data.batches({16, 1});
  std::vector<std::string> log;
  FitOptions options;
  options.epochs = 3;
  options.max_steps = 4;
  CHECK(fit(trainer, batches, options, Recorder{&log}) == FitEnd::max_steps);
  CHECK(log.front() == "begin 0/4");
  CHECK(log.back() == "end step limit mid-epoch");
  log.clear();
  options.max_steps = -1;
  CHECK(fit(trainer, batches, options, Recorder{&log}) == FitEnd::epochs_done);
  CHECK(log.front() == "begin 4/9");  // one batch left of epoch 2, then epoch 3
}

TEST_CASE("LossLog: one row per epoch; a resumed run keeps the rows up to its start and continues the time") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 5);
  vaegan_test::TempDir dir;
  const std::string ckpt = dir.file("ckpt.vgck");
  FitOptions options;
  options.epochs = 4;
  {
    VaeGanTrainer<float> trainer(config, {}, 2);
    Batches<float> batches = data.batches({16, 2});
    fit(trainer, batches, options, LossLog{dir.path().string()}, Checkpoint{ckpt, Every::epochs(2)});
  }
  const CsvTable full = read_csv(dir.file("losses.csv"));
  std::filesystem::copy_file(dir.file("losses.csv"), dir.file("losses-first.csv"));
  REQUIRE(full.num_rows() == 4);
  CHECK(full.columns[0] == "epoch");
  CHECK(full.columns[3] == VaeGanTrainer<float>::kStatNames[0]);
  CHECK(full.column("step") == std::vector<double>{3, 6, 9, 12});
  CHECK(std::filesystem::file_size(dir.file("losses.svg")) > 500);
  CHECK(read_text(dir.file("losses.svg")).find("loss_dec") != std::string::npos);

  // The checkpoint of epoch 4 (saved at the end) replaced epoch 2's; save epoch 2's again.
  {
    VaeGanTrainer<float> trainer(config, {}, 2);
    Batches<float> batches = data.batches({16, 2});
    options.epochs = 2;
    fit(trainer, batches, options, Checkpoint{ckpt});
  }
  VaeGanTrainer<float> resumed(config, {}, 2);
  Batches<float> batches = data.batches({16, 2});
  load_training_checkpoint(ckpt, resumed, &batches);
  REQUIRE(resumed.step() == 6);
  options.epochs = 3;
  fit(resumed, batches, options, LossLog{dir.path().string()});
  const CsvTable after = read_csv(dir.file("losses.csv"));
  REQUIRE(after.num_rows() == 3);  // epochs 1, 2 kept; 3 and 4 of the first run dropped; 3 anew
  CHECK(after.column("step") == std::vector<double>{3, 6, 9});
  // Kept rows are the same text (NaN statistics included).
  const std::string full_text = read_text(dir.file("losses-first.csv"));
  const std::string after_text = read_text(dir.file("losses.csv"));
  const auto third_newline = [](const std::string& t) { return t.find('\n', t.find('\n', t.find('\n') + 1) + 1); };
  CHECK(after_text.substr(0, third_newline(after_text)) == full_text.substr(0, third_newline(full_text)));
  CHECK(after.column("train_seconds")[2] > after.column("train_seconds")[1]);
  // Bit-exact resume: the resumed epoch's means are the first run's.
  CHECK(after.rows[2][3] == full.rows[2][3]);

  // A folder of another kind of run is refused, naming both column lists.
  GanTrainer<float> gan(config, {}, 2);
  Batches<float> gan_batches = data.batches({16, 2});
  gan.set_step(1);
  const std::string message =
      message_of<IoError>([&] { fit(gan, gan_batches, options, LossLog{dir.path().string()}); });
  CHECK(contains(message, "loss_g"));
  CHECK(contains(message, "loss_dec"));
}

TEST_CASE("SampleGrid: one grid per due point, reconstructions for trainers with an encoder, the latest at the end") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 7);
  const Tensor<float> shown = binary_images<float>(4, config.image_dim(), 8);
  vaegan_test::TempDir dir;
  FitOptions options;
  options.epochs = 2;
  SUBCASE("every epoch, VAE") {
    VaeTrainer<float> trainer(config, {}, 3);
    Batches<float> batches = data.batches({16, 3});
    fit(trainer, batches, options, SampleGrid{dir.path().string(), Every::epochs(1), 9}.with_reconstructions(shown));
    const RunFiles files(dir.path().string());
    CHECK(files.series("samples").size() == 2);
    CHECK(files.series("recon").size() == 2);
    CHECK(files.series("samples")[1].file == "samples_epoch_002.png");
    // samples.png is the last frame, byte for byte.
    CHECK(read_text(dir.file("samples.png")) == read_text(dir.file("samples_epoch_002.png")));
  }
  SUBCASE("every 2 steps, GAN, stopped mid-epoch") {
    GanTrainer<float> trainer(config, {}, 3);
    Batches<float> batches = data.batches({16, 3});
    options.max_steps = 5;
    fit(trainer, batches, options, SampleGrid{dir.path().string(), Every::steps(2), 4}.with_reconstructions(shown));
    const std::vector<RunImage> frames = RunFiles(dir.path().string()).series("samples");
    REQUIRE(frames.size() == 2);
    CHECK(frames[0].file == "samples_step_0000002.png");
    CHECK(frames[1].by_step);
    CHECK(frames[1].at == 4);
    CHECK(RunFiles(dir.path().string()).series("recon").empty());  // a GAN has no encoder
    // Step 5 was not a due point: samples.png shows step 5, not the frame of step 4.
    CHECK(read_text(dir.file("samples.png")) != read_text(dir.file("samples_step_0000004.png")));
  }
}

TEST_CASE("RunFiles: series are found by name and ordered, other files ignored") {
  vaegan_test::TempDir dir;
  for (const char* name : {"samples_epoch_010.png", "samples_epoch_002.png", "samples_step_0000100.png", "samples.png",
                           "samples_epoch_x.png", "samples_epoch_003.txt", "recon_epoch_001.png"})
    std::ofstream(dir.file(name)) << "x";
  const std::vector<RunImage> frames = RunFiles(dir.path().string()).series("samples");
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].file == "samples_epoch_002.png");
  CHECK(frames[1].file == "samples_epoch_010.png");
  CHECK(frames[2].file == "samples_step_0000100.png");
  CHECK(RunFiles::series_file("recon", false, 7) == "recon_epoch_007.png");
}

TEST_CASE("Checkpoint: saves every N steps mid-epoch, and a run resumed from it continues bit for bit") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 9);
  vaegan_test::TempDir dir;
  FitOptions options;
  options.epochs = 3;
  VaeGanTrainer<float> straight(config, {}, 4);
  Batches<float> straight_batches = data.batches({16, 4});
  fit(straight, straight_batches, options);

  const std::string path = dir.file("sub/ckpt.vgck");  // its folder is made
  Checkpoint saver(path, Every::steps(4), /*save_at_end=*/false);
  {
    VaeGanTrainer<float> first(config, {}, 4);
    Batches<float> first_batches = data.batches({16, 4});
    options.max_steps = 6;
    fit(first, first_batches, options, saver);
  }
  CHECK(saver.saved_step() == 4);  // step 6 was no due point, and no save at the end
  VaeGanTrainer<float> resumed(config, {}, 99);
  Batches<float> resumed_batches = data.batches({16, 4});
  load_training_checkpoint(path, resumed, &resumed_batches);
  CHECK(resumed.step() == 4);
  options.max_steps = -1;
  fit(resumed, resumed_batches, options);
  check_same_state(snapshot<float>(straight), snapshot<float>(resumed));

  CHECK_THROWS_AS(fit(resumed, resumed_batches, options, Checkpoint{dir.path().string()}), IoError);  // a folder
}

TEST_CASE("EarlyStop: stops after `patience` epochs without an improvement larger than min_delta") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 11);
  SUBCASE("the decision, epoch by epoch") {
    static constexpr const char* kNames[] = {"loss", "other"};
    EarlyStop stop("loss", 2, 0.1);
    int dummy = 0;
    auto epoch = [&](double loss) {
      StepStats stats(kNames, 2);
      stats.set("loss", loss);
      stats.set("other", 0.0);
      return stop.on_epoch(dummy, EpochEvent{1, 1, stats, 0.0, 0.0});
    };
    CHECK(epoch(5.0));
    CHECK(epoch(4.0));           // improved by 1
    CHECK(epoch(3.95));          // by 0.05 <= min_delta: stale 1
    CHECK(epoch(std::nan("")));  // not computed: neither
    CHECK(epoch(3.0));           // improved: stale 0
    CHECK(epoch(3.5));           // stale 1
    CHECK_FALSE(epoch(3.2));     // stale 2: stop
    CHECK(stop.best() == 3.0);
  }
  SUBCASE("in fit(), and an unknown statistic is refused before training") {
    VaeTrainer<float> trainer(config, {}, 5);
    Batches<float> batches = data.batches({16, 5});
    FitOptions options;
    options.epochs = 50;
    // A loss that cannot improve by 1e9 stops after exactly `patience` + 1 epochs.
    CHECK(fit(trainer, batches, options, EarlyStop{"loss", 3, 1e9}) == FitEnd::stopped_by_callback);
    CHECK(trainer.epoch() == 4);
    const std::string message = message_of<Error>([&] { fit(trainer, batches, options, EarlyStop{"fid", 3}); });
    CHECK(contains(message, "'fid'"));
    CHECK(contains(message, "loss, rec, kl"));
    CHECK(trainer.epoch() == 4);
  }
}

TEST_CASE("ScoreSamples: metrics.csv holds the evaluator's scores of the fixed latent codes' samples") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 13);
  ClassifierConfig cc;
  cc.image_shape = config.image_shape;
  cc.hidden = {8};
  cc.classes = 4;
  const Classifier<float> classifier(cc, 3);
  const Evaluator<float> evaluator(classifier, binary_images<float>(40, config.image_dim(), 14));
  vaegan_test::TempDir dir;
  GanTrainer<float> trainer(config, {}, 6);
  Batches<float> batches = data.batches({16, 6});
  FitOptions options;
  options.epochs = 2;
  ScoreSamples<float> scores(dir.path().string(), evaluator, Every::epochs(1), 30);
  fit(trainer, batches, options, scores);
  const CsvTable table = read_csv(dir.file("metrics.csv"));
  REQUIRE(table.num_rows() == 2);
  CHECK(table.column("step") == std::vector<double>{3, 6});
  Tensor<float> images;
  trainer.generate(scores.latent_codes(), images);
  CHECK(scores.latent_codes().rows() == 30);
  const SampleScores expected = evaluator.score(images);
  CHECK(table.column("fid")[1] == doctest::Approx(expected.fid).epsilon(1e-12));
  CHECK(table.column("recall")[1] == doctest::Approx(expected.recall).epsilon(1e-12));
  CHECK(table.column("fid")[0] != table.column("fid")[1]);  // training moved the samples
  CHECK(std::filesystem::exists(dir.file("metrics.svg")));
  // Continued, and stopped between due points: scored once more at the end, appended.
  options.epochs = 3;
  options.max_steps = 7;
  fit(trainer, batches, options, scores);
  CHECK(read_csv(dir.file("metrics.csv")).column("step") == std::vector<double>{3, 6, 7});
}

TEST_CASE("TrainingReport: a page of what the folder holds, every link resolving to a file there") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 15);
  const Tensor<float> shown = binary_images<float>(4, config.image_dim(), 16);
  vaegan_test::TempDir dir;
  VaeGanTrainer<float> trainer(config, {}, 7);
  Batches<float> batches = data.batches({16, 7});
  FitOptions options;
  options.epochs = 3;
  std::vector<std::string> pages_while_running;
  fit(trainer, batches, options, LossLog{dir.path().string()},
      SampleGrid{dir.path().string()}.with_reconstructions(shown),
      TrainingReport{dir.path().string(), "Tiny <test> & run", {{"gamma", "0.2 <i>"}}},
      PageReader{&pages_while_running, dir.file("report.html")});
  REQUIRE(pages_while_running.size() == 3);
  CHECK(contains(pages_while_running[0], "running"));
  CHECK(contains(pages_while_running[0], "http-equiv=\"refresh\""));
  const std::string page = read_text(dir.file("report.html"));
  CHECK(contains(page, "finished</b> (epochs done)"));
  CHECK_FALSE(contains(page, "http-equiv=\"refresh\""));
  CHECK(contains(page, "<title>Tiny &lt;test&gt; &amp; run</title>"));
  CHECK(contains(page, "<td>0.2 &lt;i&gt;</td>"));
  CHECK(contains(page, "<th>trainer</th><td>vaegan</td>"));
  CHECK(contains(page, "id=\"losses\""));
  CHECK(contains(page, "id=\"recon\""));
  CHECK(contains(page, "recon_epoch_003.png"));
  // Every src and href is a file of the folder.
  const std::regex link(R"((?:src|href)="([^"]+)\")");
  std::set<std::string> linked;
  for (std::sregex_iterator it(page.begin(), page.end(), link), end; it != end; ++it) linked.insert((*it)[1]);
  linked.erase("data:,");
  CHECK(linked.count("losses.svg") == 1);
  CHECK(linked.count("samples_epoch_001.png") == 1);
  for (const auto& file : linked) {
    CAPTURE(file);
    CHECK(std::filesystem::exists(dir.file(file)));
  }
  // The slider's frame list names every sample frame.
  for (const char* frame : {"\"samples_epoch_001.png\"", "\"samples_epoch_002.png\"", "\"samples_epoch_003.png\""})
    CHECK(contains(page, frame));
}
