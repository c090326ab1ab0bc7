// fit()'s clocks, stop condition and divergence handling (train/fit.hpp); its callback
// protocol is tested in callbacks_test.cpp.
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"
#include "train/train_test_util.hpp"
#include "vaegan/train/fit.hpp"
#include "vaegan/train/vae_trainer.hpp"

using namespace vaegan;
using namespace vaegan::train_test;

namespace {

using vaegan::test::contains;

// The smallest trainer fit() takes: each step sleeps (wall time, no CPU), then spins until
// the calling thread has used `busy_seconds` of CPU; `fail_at_step` throws NumericError
// (a divergence) instead of taking that step.
struct BusyTrainer {
  static constexpr const char* kStatNames[] = {"loss"};
  static constexpr int kStatCount = 1;
  double sleep_seconds = 0.0, busy_seconds = 0.0;
  std::int64_t fail_at_step = -1;
  std::int64_t step_ = 0, epoch_ = 0;

  std::int64_t step() const { return step_; }
  std::int64_t epoch() const { return epoch_; }
  void set_epoch(std::int64_t e) { epoch_ = e; }
  Communicator* communicator() const { return nullptr; }
  bool any_replica(bool value) const { return value; }
  StepStats train_step(const Tensor<float>&) {
    if (step_ + 1 == fail_at_step) throw NumericError("step " + std::to_string(step_) + ": loss is nan");
    if (sleep_seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(sleep_seconds));
    const double start = fit_clock_seconds(FitClock::thread_cpu);
    while (fit_clock_seconds(FitClock::thread_cpu) - start < busy_seconds) {
    }
    ++step_;
    StepStats stats(kStatNames, kStatCount);
    stats.set(0, static_cast<double>(step_));
    return stats;
  }
};

// Keeps the end event.
struct EndRecorder {
  FitEndEvent* end;
  int* ends;
  template <class Run>
  void on_fit_end(Run&, const FitEndEvent& e) {
    *end = e;
    ++*ends;
  }
};

// Asks to stop after a given step.
struct StopAfter {
  std::int64_t step;
  template <class Run>
  bool on_step(Run&, const StepEvent& e) {
    return e.step != step;
  }
};

// Keeps the plan fit() announces.
struct Plan {
  std::int64_t* planned;
  template <class Run>
  void on_fit_begin(Run& run) {
    *planned = run.total_steps;
  }
};

}  // namespace

TEST_CASE("fit: the thread CPU clock counts the training thread's compute, so a CPU budget outlasts sleeps") {
  const ImageDataset<float> data = binary_dataset<float>(64, 4, 1);  // 4 batches of 16
  FitEndEvent end{FitEnd::epochs_done, 0, 0, false, 0.0};
  int ends = 0;
  // 10 ms asleep and 2 ms of CPU a step, a budget of 10 ms.
  BusyTrainer trainer{0.010, 0.002};
  Batches<float> batches = data.batches({16, 1});
  FitOptions options;
  options.epochs = 1000;
  options.time_budget_seconds = 0.010;
  options.clock = FitClock::thread_cpu;
  const double cpu_before = fit_clock_seconds(FitClock::thread_cpu);
  const auto wall_before = std::chrono::steady_clock::now();
  CHECK(fit(trainer, batches, options, EndRecorder{&end, &ends}) == FitEnd::time_budget);
  const double cpu_spent = fit_clock_seconds(FitClock::thread_cpu) - cpu_before;
  const double wall_spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_before).count();
  CHECK(ends == 1);
  CHECK(end.reason == FitEnd::time_budget);
  CHECK(end.step == trainer.step());
  CAPTURE(trainer.step());
  CAPTURE(end.train_seconds);
  // 2 ms of CPU a step: at least 2 steps (10 ms / 2 ms = 5, less if the sleeps cost CPU),
  // each stopping as soon as 10 ms are counted.
  CHECK(trainer.step() >= 2);
  CHECK(trainer.step() <= 5);
  CHECK(end.train_seconds >= 0.010);
  CHECK(end.train_seconds <= cpu_spent + 1e-6);
  CHECK(wall_spent >= 0.010 * static_cast<double>(trainer.step()));  // the sleeps took wall time, not CPU

  SUBCASE("the wall clock counts the sleeps: one step spends the budget") {
    BusyTrainer wall_trainer{0.010, 0.0};
    Batches<float> wall_batches = data.batches({16, 1});
    options.clock = FitClock::wall;
    CHECK(fit(wall_trainer, wall_batches, options) == FitEnd::time_budget);
    CHECK(wall_trainer.step() == 1);
  }
  SUBCASE("the process CPU clock runs too") {
    BusyTrainer process_trainer{0.0, 0.002};
    Batches<float> process_batches = data.batches({16, 1});
    options.clock = FitClock::process_cpu;
    CHECK(fit(process_trainer, process_batches, options, EndRecorder{&end, &ends}) == FitEnd::time_budget);
    CHECK(end.train_seconds >= 0.010);
    CHECK(process_trainer.step() >= 1);
  }
}

TEST_CASE("fit: a custom clock times train_step alone, and the budget stops at its first step past it") {
  const ImageDataset<float> data = binary_dataset<float>(48, 4, 1);  // 3 batches of 16
  BusyTrainer trainer;
  Batches<float> batches = data.batches({16, 1});
  double now = 0.0;
  std::vector<double> step_seconds;
  FitCallbacks record;
  record.on_step = [&](const StepEvent& e) {
    step_seconds.push_back(e.train_seconds);
    now += 100.0;  // a callback's time: not training time
  };
  FitOptions options;
  options.epochs = std::numeric_limits<std::int64_t>::max();  // no epoch limit: the budget ends it
  options.time_budget_seconds = 1.0;
  // 0.25 s between any two readings: each step costs exactly that.
  options.custom_clock = [&] { return now += 0.25; };
  FitEndEvent end{FitEnd::epochs_done, 0, 0, false, 0.0};
  int ends = 0;
  CHECK(fit(trainer, batches, options, record, EndRecorder{&end, &ends}) == FitEnd::time_budget);
  CHECK(trainer.step() == 4);  // across an epoch's end
  CHECK(step_seconds == std::vector<double>{0.25, 0.5, 0.75, 1.0});
  CHECK(end.train_seconds == 1.0);
  CHECK(end.mid_epoch);
}

TEST_CASE("fit: the stop condition stops at the step it names, and FitEndEvent says so") {
  const ModelConfig config = tiny_config();
  const ImageDataset<float> data = binary_dataset<float>(48, config.image_dim(), 3);  // 3 batches of 16
  FitEndEvent end{FitEnd::epochs_done, 0, 0, false, 0.0};
  int ends = 0;
  FitOptions options;
  options.epochs = 3;
  SUBCASE("mid-epoch") {
    VaeTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({16, 1});
    std::vector<std::int64_t> asked;
    options.stop_when = [&](const StepEvent& e) {
      asked.push_back(e.step);
      return e.step == 5;
    };
    CHECK(fit(trainer, batches, options, EndRecorder{&end, &ends}) == FitEnd::stop_condition);
    CHECK(trainer.step() == 5);
    CHECK(asked == std::vector<std::int64_t>{1, 2, 3, 4, 5});  // after every step
    CHECK(ends == 1);
    CHECK(end.reason == FitEnd::stop_condition);
    CHECK(end.step == 5);
    CHECK(end.mid_epoch);
    CHECK(std::string(fit_end_name(end.reason)) == "stop condition");
  }
  SUBCASE("at an epoch's last batch: the epoch is closed first") {
    VaeTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({16, 1});
    int epochs_seen = 0;
    FitCallbacks count;
    count.on_epoch = [&](const EpochEvent&) { return ++epochs_seen, true; };
    options.stop_when = [](const StepEvent& e) { return e.stats.get("loss") < 1e9 && e.step == 3; };
    CHECK(fit(trainer, batches, options, count, EndRecorder{&end, &ends}) == FitEnd::stop_condition);
    CHECK(trainer.step() == 3);
    CHECK(trainer.epoch() == 1);
    CHECK(epochs_seen == 1);
    CHECK(!end.mid_epoch);
  }
  SUBCASE("a callback's stop at the same step is reported as the callback's") {
    VaeTrainer<float> trainer(config, {}, 1);
    Batches<float> batches = data.batches({16, 1});
    options.stop_when = [](const StepEvent& e) { return e.step >= 2; };
    CHECK(fit(trainer, batches, options, StopAfter{2}, EndRecorder{&end, &ends}) == FitEnd::stopped_by_callback);
    CHECK(trainer.step() == 2);
  }
}

TEST_CASE("fit: stop_on_divergence ends with FitEnd::diverged and the error, the failed step's time counted") {
  const ImageDataset<float> data = binary_dataset<float>(48, 4, 1);
  FitOptions options;
  options.epochs = 2;
  double now = 0.0;
  options.custom_clock = [&] { return now += 0.5; };
  SUBCASE("on: fit() returns, on_fit_end says why") {
    BusyTrainer trainer;
    trainer.fail_at_step = 3;
    Batches<float> batches = data.batches({16, 1});
    options.stop_on_divergence = true;
    FitEndEvent end{FitEnd::epochs_done, 0, 0, false, 0.0};
    int ends = 0;
    CHECK(fit(trainer, batches, options, EndRecorder{&end, &ends}) == FitEnd::diverged);
    CHECK(trainer.step() == 2);
    CHECK(ends == 1);
    CHECK(end.reason == FitEnd::diverged);
    CHECK(end.step == 2);
    CHECK(end.mid_epoch);
    CHECK(end.train_seconds == 1.5);  // two steps and the failed one
    CHECK(contains(end.message, "step 2: loss is nan"));
  }
  SUBCASE("off: the NumericError propagates") {
    BusyTrainer trainer;
    trainer.fail_at_step = 3;
    Batches<float> batches = data.batches({16, 1});
    CHECK_THROWS_AS(fit(trainer, batches, options), NumericError);
    CHECK(trainer.step() == 2);
  }
}

TEST_CASE("fit: no epoch limit with a step limit plans the steps it will take") {
  const ImageDataset<float> data = binary_dataset<float>(48, 4, 1);
  BusyTrainer trainer;
  Batches<float> batches = data.batches({16, 1});
  std::int64_t planned = -1;
  FitOptions options;
  options.epochs = std::numeric_limits<std::int64_t>::max();
  options.max_steps = 7;
  CHECK(fit(trainer, batches, options, Plan{&planned}) == FitEnd::max_steps);
  CHECK(planned == 7);
  CHECK(trainer.step() == 7);
}
