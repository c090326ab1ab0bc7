// bench_step: whole training steps of docs/reference-workloads.md through vaegan's
// trainers (GanTrainer, VaeTrainer, VaeGanTrainer with their default options, which are
// the reference steps), one JSON line per configuration:
//
//   {"impl":"vaegan","preset":"mlp","step":"vaegan","batch":256,"threads":2,"steps":100,
//    "median_ms":..,"min_ms":..,"max_ms":..,"flops_per_step":..,"gflops":..}
//
//   bench_step [--preset seed|mlp|conv] [--step gan|vae|vaegan] [--batch N] [--threads N]
//              [--steps N] [--warmup N] [--pin] [--clock wall|cpu] [--all] [--list] [--help]
//
// Each step is timed alone with the wall clock (forward, backward, Adam), after --warmup
// untimed steps; median, min and max are over the --steps timed ones. --all runs every
// configuration of the reference file (3 presets x 3 steps x batch 64, 256 x 1, 2
// threads); the flags given with it narrow that set. The real batch is a fixed uniform
// [0, 1) tensor, as in benchmarks/reference/step_torch.py. --preset, --step, --batch and
// --threads also take comma-separated lists (--batch 64,256); --help lists the flags.
//
// --clock cpu times each step with the calling thread's CPU-time clock (1 thread only):
// on a machine shared with other busy processes it leaves out the time the thread was
// preempted. The reported figures use the wall clock unless it is given.
//
// --contend N times each configuration twice: first quiet, then with N busy processes of
// its own competing for the cores (each a child spinning on one core's worth of work,
// killed when the timing ends, and by the kernel if bench_step dies first), and adds
// quiet and contended medians and 99th percentiles to the line:
//   ..."contenders":1,"quiet_median_ms":..,"quiet_p99_ms":..,"contended_median_ms":..,
//   "contended_p99_ms":..}
// (median_ms, min_ms and max_ms stay the quiet run's). The question it answers: how much
// slower does training get when something else runs on the machine (docs/performance.md).
//
// flops_per_step is the analytic matmul work the workload needs at minimum (see
// step_flops.hpp), the same formula the PyTorch reference prints, so GFLOP/s compare
// like for like. Accepts --benchmark_list_tests (prints the configurations) so the CTest
// smoke test can list it like the Google Benchmark programs.
//
// --profile prints, per configuration, where its steps' time goes instead of the JSON line:
// two Markdown tables (per phase, and per phase and layer) from the scopes of
// core/profile.hpp, each phase's milliseconds per step, its share of the step, and its
// GFLOP/s or GB/s against the FMA peak and the triad memory bandwidth of the same thread
// count, both measured in the same run (peak_fma.hpp). Wall clock; use --threads 1 for the
// full split (inside a parallel region only the enclosing op is timed). The tables of
// docs/performance.md come from it.
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"  // examples/common/cli.hpp
#include "peak_fma.hpp"
#include "step_flops.hpp"
#include "thread_pinning.hpp"

namespace {

struct Config {
  std::string preset;
  std::string step;
  vaegan::Index batch = 0;
  int threads = 1;
};

struct Options {
  std::vector<std::string> presets{"seed", "mlp", "conv"};
  std::vector<std::string> steps{"gan", "vae", "vaegan"};
  std::vector<vaegan::Index> batches{64, 256};
  std::vector<int> threads{1, 2};
  int timed_steps = 100;
  int warmup_steps = 10;
  bool pin = false;
  bool cpu_clock = false;
  bool list = false;
  int contenders = 0;          // --contend
  bool adapt_threads = false;  // --adapt-threads: a ThreadGovernor after every step, timed with it
  bool profile = false;        // --profile: tables of the phases instead of the JSON line
};

double now_ms(bool cpu_clock) {
  if (cpu_clock) {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

Options parse(int argc, char** argv) {
  Options o;
  std::vector<std::int64_t> batches(o.batches.begin(), o.batches.end()), threads(o.threads.begin(), o.threads.end());
  std::int64_t timed_steps = o.timed_steps, warmup_steps = o.warmup_steps;
  std::string clock = "wall";
  bool all = false;
  cli::Parser p("bench_step",
                "Whole training steps of the reference workloads, one JSON line per configuration\n"
                "(see the comment at the top of benchmarks/step.cpp).");
  p.add("preset", &o.presets, "model presets: seed, mlp, conv");
  p.add("step", &o.steps, "training steps: gan, vae, vaegan");
  p.add("batch", &batches, "images per step");
  p.add("threads", &threads, "thread counts");
  p.add("steps", &timed_steps, "timed steps per configuration");
  p.add("warmup", &warmup_steps, "untimed steps before them");
  std::int64_t contenders = 0;
  p.add("contend", &contenders, "also time each configuration beside N busy processes of its own (0: off)");
  p.add_switch("adapt-threads", &o.adapt_threads,
               "let a ThreadGovernor drop to one thread while other programs take cores (core/thread_governor.hpp)");
  p.add_switch("profile", &o.profile,
               "time each phase of each layer (core/profile.hpp) and print tables against the FMA peak and the "
               "memory bandwidth measured in the same run, instead of the JSON line");
  p.add_switch("pin", &o.pin, "one CPU per thread (Linux), for a machine other processes keep busy");
  p.add("clock", &clock, "wall, or cpu: the thread's CPU time (needs --threads 1)");
  p.add_switch("all", &all, "every configuration: the defaults of the four lists above, which narrow it");
  p.add_switch("list", &o.list, "print the configurations and exit");
  p.add_switch("benchmark_list_tests", &o.list, "the same as --list, as in Google Benchmark programs");
  auto all_of = [](const auto& list, auto ok) { return std::all_of(list.begin(), list.end(), ok); };
  // The first item of `list` not in `allowed`, or "" when there is none.
  auto first_bad = [](const std::vector<std::string>& list, const std::vector<std::string>& allowed) {
    for (const auto& v : list)
      if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) return v;
    return std::string();
  };
  p.require(
      [&] {
        return first_bad(o.presets, {"seed", "mlp", "conv"}).empty();
      },
      [&] {
        return "--preset must be seed, mlp or conv, got '" + first_bad(o.presets, {"seed", "mlp", "conv"}) + "'";
      });
  p.require(
      [&] {
        return first_bad(o.steps, {"gan", "vae", "vaegan"}).empty();
      },
      [&] {
        return "--step must be gan, vae or vaegan, got '" + first_bad(o.steps, {"gan", "vae", "vaegan"}) + "'";
      });
  p.require([&] { return all_of(batches, [](std::int64_t v) { return v > 0; }); }, "--batch needs positive integers");
  p.require([&] { return all_of(threads, [](std::int64_t v) { return v > 0; }); }, "--threads needs positive integers");
  p.require([&] { return timed_steps > 0; }, "--steps needs a positive integer");
  p.require([&] { return warmup_steps >= 0; }, "--warmup must be >= 0");
  p.require([&] { return contenders >= 0 && contenders <= 64; },
            [&] { return "--contend must be 0..64 busy processes, got " + std::to_string(contenders); });
  p.require([&] { return clock == "wall" || clock == "cpu"; },
            [&] { return "--clock must be wall or cpu, got '" + clock + "'"; });
  p.require([&] { return !o.profile || (contenders == 0 && !o.adapt_threads && clock == "wall"); },
            "--profile times with the wall clock, without --contend, --adapt-threads or --clock cpu");
  p.require([&] { return clock == "wall" || threads == std::vector<std::int64_t>{1}; },
            "--clock cpu needs --threads 1 (other threads' time would be missed)");
  // Without --all, a run needs a dimension named or it would silently run 24 configs.
  p.require(
      [&] { return all || o.list || p.given("preset") || p.given("step") || p.given("batch") || p.given("threads"); },
      "name a configuration (--preset, --step, ...) or pass --all");
  p.parse(argc, argv);
  o.batches.assign(batches.begin(), batches.end());
  o.threads.assign(threads.begin(), threads.end());
  o.timed_steps = static_cast<int>(timed_steps);
  o.warmup_steps = static_cast<int>(warmup_steps);
  o.cpu_clock = clock == "cpu";
  o.contenders = static_cast<int>(contenders);
  return o;
}

// N child processes that spin until this object goes (or bench_step dies: the kernel then
// kills them, PR_SET_PDEATHSIG). A child only spins, so forking a process that has OpenMP
// threads is safe here.
class BusyProcesses {
 public:
  explicit BusyProcesses(int n) {
    for (int i = 0; i < n; ++i) {
      const pid_t pid = fork();
      if (pid < 0) {
        stop();
        throw std::runtime_error("--contend: fork failed");
      }
      if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        volatile std::uint64_t x = 1;
        for (;;) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      }
      children_.push_back(pid);
    }
  }
  BusyProcesses(const BusyProcesses&) = delete;
  BusyProcesses& operator=(const BusyProcesses&) = delete;
  ~BusyProcesses() { stop(); }

 private:
  void stop() {
    for (pid_t pid : children_) kill(pid, SIGKILL);
    for (pid_t pid : children_) waitpid(pid, nullptr, 0);
    children_.clear();
  }
  std::vector<pid_t> children_;
};

// Times one configuration; returns the per-step milliseconds.
// With --adapt-threads the governor's own work is inside the timed step.
template <class Trainer>
std::vector<double> time_steps(Trainer& trainer, const vaegan::Tensor<float>& batch, const Options& o,
                               vaegan::ThreadGovernor* governor) {
  for (int i = 0; i < o.warmup_steps; ++i) {
    trainer.train_step(batch);
    if (governor) governor->after_step();
  }
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(o.timed_steps));
  for (int i = 0; i < o.timed_steps; ++i) {
    const double t0 = now_ms(o.cpu_clock);
    trainer.train_step(batch);
    if (governor) governor->after_step();
    ms.push_back(now_ms(o.cpu_clock) - t0);
  }
  return ms;
}

struct Timings {
  std::vector<double> quiet, contended;  // ms per step; contended empty without --contend
  int reductions = -1;                   // --adapt-threads: the governor's drops to one thread
};

// The fixed real batch of a configuration: uniform [0, 1). Dense presets take flat rows
// (their encoder flattens anyway); conv takes [N, C, H, W].
vaegan::Tensor<float> real_batch(const Config& c) {
  const vaegan::ModelConfig model = vaegan::model_preset(c.preset);
  const vaegan::Shape& image = model.image_shape;
  vaegan::Tensor<float> batch(model.architecture == vaegan::Architecture::conv
                                  ? vaegan::Shape{c.batch, image[0], image[1], image[2]}
                                  : vaegan::Shape{c.batch, model.image_dim()});
  vaegan::Rng data_rng(1);
  data_rng.fill_uniform(batch.data(), batch.numel(), 0.0, 1.0);
  return batch;
}

// f(trainer) with the configuration's trainer, built with its default options.
template <class F>
auto with_trainer(const Config& c, F&& f) {
  const vaegan::ModelConfig model = vaegan::model_preset(c.preset);
  if (c.step == "gan") {
    vaegan::GanTrainer<float> trainer(model);
    return f(trainer);
  }
  if (c.step == "vae") {
    vaegan::VaeTrainer<float> trainer(model);
    return f(trainer);
  }
  vaegan::VaeGanTrainer<float> trainer(model);
  return f(trainer);
}

Timings run(const Config& c, const Options& o) {
  const vaegan::Tensor<float> batch = real_batch(c);
  return with_trainer(c, [&](auto& trainer) {
    Timings t;
    std::optional<vaegan::ThreadGovernor> governor;
    if (o.adapt_threads) governor.emplace(c.threads);
    vaegan::ThreadGovernor* g = governor ? &*governor : nullptr;
    t.quiet = time_steps(trainer, batch, o, g);
    if (o.contenders > 0) {
      const BusyProcesses busy(o.contenders);
      t.contended = time_steps(trainer, batch, o, g);
    }
    if (g) t.reductions = g->reductions();
    return t;
  });
}

double median_of(const std::vector<double>& sorted) {
  const std::size_t n = sorted.size();
  return n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
}
// Nearest-rank percentile (q in (0, 1]) of sorted values.
double percentile_of(const std::vector<double>& sorted, double q) {
  const auto rank = static_cast<std::size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}

// ---- --profile ---------------------------------------------------------------------------

// The machine's limits, measured in the same run as the profile (peak_fma.hpp).
struct Limits {
  double peak_gflops = 0, bandwidth_gbs = 0;
};

// "12.3" or "" for a rate with nothing to divide.
std::string rate(double amount, double seconds, double scale) {
  if (amount <= 0 || seconds <= 0) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", amount / seconds / scale);
  return text;
}
std::string percent(double part, double whole) {
  if (part <= 0 || whole <= 0) return "";
  char text[32];
  std::snprintf(text, sizeof text, "%.0f%%", 100.0 * part / whole);
  return text;
}

// One table row: a phase (of a layer, or of every layer) summed over `steps` steps.
void print_row(const vaegan::profile::Entry& e, bool with_layer, int steps, double step_ms, const Limits& limits) {
  const double ms = e.seconds * 1e3 / steps;
  const double gflops = e.flops > 0 ? e.flops / e.seconds / 1e9 : 0, gbs = e.bytes > 0 ? e.bytes / e.seconds / 1e9 : 0;
  std::printf("| %s |", e.phase.c_str());
  if (with_layer) std::printf(" %s | %.4g |", e.layer.c_str(), static_cast<double>(e.calls) / steps);
  std::printf(" %.2f | %s | %s | %s | %s | %s |\n", ms, percent(ms, step_ms).c_str(),
              rate(e.flops, e.seconds, 1e9).c_str(), percent(gflops, limits.peak_gflops).c_str(),
              rate(e.bytes, e.seconds, 1e9).c_str(), percent(gbs, limits.bandwidth_gbs).c_str());
}

// Two Markdown tables of the profile: per phase (summed over layers) and per phase and layer,
// each sorted by time, with what no scope covers (the losses, the reparameterization, the
// glue between ops) as its own row.
void print_profile(const Config& c, const Limits& limits, std::vector<vaegan::profile::Entry> entries,
                   std::vector<double> ms) {
  const int steps = static_cast<int>(ms.size());
  double total_ms = 0;
  for (double m : ms) total_ms += m;
  const double mean_ms = total_ms / steps;
  std::sort(ms.begin(), ms.end());
  double profiled_s = 0;
  std::vector<vaegan::profile::Entry> phases;
  for (const auto& e : entries) {
    profiled_s += e.seconds;
    auto it = std::find_if(phases.begin(), phases.end(), [&](const auto& p) { return p.phase == e.phase; });
    if (it == phases.end()) {
      phases.push_back(e);
      phases.back().layer.clear();
    } else {
      it->calls += e.calls;
      it->seconds += e.seconds;
      it->flops += e.flops;
      it->bytes += e.bytes;
    }
  }
  const auto by_time = [](const auto& a, const auto& b) { return a.seconds > b.seconds; };
  std::sort(phases.begin(), phases.end(), by_time);
  std::sort(entries.begin(), entries.end(), by_time);
  vaegan::profile::Entry rest;
  rest.phase = "rest of the step (no scope: losses, sampling, glue)";
  rest.calls = steps;
  rest.seconds = std::max(0.0, total_ms * 1e-3 - profiled_s);
  const double flops = vaegan_bench::step_flops(vaegan::model_preset(c.preset), c.step, c.batch);
  std::printf("### %s %s, batch %ld, %d thread%s\n\n", c.preset.c_str(), c.step.c_str(), static_cast<long>(c.batch),
              c.threads, c.threads == 1 ? "" : "s");
  std::printf(
      "%d profiled steps: median %.2f ms, mean %.2f ms (%.1f GFLOP/s of step FLOPs, %s of the FMA peak); FMA peak "
      "%.1f GFLOP/s and triad bandwidth %.1f GB/s on %d thread%s, measured in the same run.\n\n",
      steps, median_of(ms), mean_ms, flops / (mean_ms * 1e-3) / 1e9,
      percent(flops / (mean_ms * 1e-3) / 1e9, limits.peak_gflops).c_str(), limits.peak_gflops, limits.bandwidth_gbs,
      c.threads, c.threads == 1 ? "" : "s");
  std::printf(
      "| phase | ms/step | of step | GFLOP/s | of peak | GB/s | of bandwidth |\n|---|---|---|---|---|---|---|\n");
  for (const auto& e : phases) print_row(e, false, steps, mean_ms, limits);
  print_row(rest, false, steps, mean_ms, limits);
  std::printf(
      "\n| phase | layer | calls/step | ms/step | of step | GFLOP/s | of peak | GB/s | of bandwidth |\n"
      "|---|---|---|---|---|---|---|---|---|\n");
  // Rows under 0.05 ms a step are summed into one, so the table stays readable.
  vaegan::profile::Entry small;
  small.phase = "the rows under 0.05 ms a step";
  for (const auto& e : entries) {
    if (e.seconds * 1e3 / steps >= 0.05) {
      print_row(e, true, steps, mean_ms, limits);
    } else {
      small.calls += e.calls;
      small.seconds += e.seconds;
    }
  }
  if (small.calls > 0) {
    small.layer = "(" + std::to_string(small.calls / steps) + " calls)";
    small.calls = steps;
    print_row(small, true, steps, mean_ms, limits);
  }
  std::printf("\n");
  std::fflush(stdout);
}

void profile_config(const Config& c, const Options& o, const Limits& limits) {
  const vaegan::Tensor<float> batch = real_batch(c);
  with_trainer(c, [&](auto& trainer) {
    for (int i = 0; i < o.warmup_steps; ++i) trainer.train_step(batch);
    auto& registry = vaegan::profile::Registry::instance();
    registry.clear();
    vaegan::profile::set_enabled(true);
    std::vector<double> ms;
    for (int i = 0; i < o.timed_steps; ++i) {
      const double t0 = now_ms(false);
      trainer.train_step(batch);
      ms.push_back(now_ms(false) - t0);
    }
    vaegan::profile::set_enabled(false);
    print_profile(c, limits, registry.entries(), ms);
    registry.clear();
    return 0;
  });
}

void report(const Config& c, const Options& o, Timings t) {
  std::vector<double>& ms = t.quiet;
  std::sort(ms.begin(), ms.end());
  const double median = median_of(ms);
  const double flops = vaegan_bench::step_flops(vaegan::model_preset(c.preset), c.step, c.batch);
  std::printf(
      "{\"impl\":\"vaegan\",\"preset\":\"%s\",\"step\":\"%s\",\"batch\":%ld,\"threads\":%d,\"steps\":%d,"
      "\"median_ms\":%.4f,\"min_ms\":%.4f,\"max_ms\":%.4f,\"flops_per_step\":%.0f,\"gflops\":%.2f",
      c.preset.c_str(), c.step.c_str(), static_cast<long>(c.batch), c.threads, o.timed_steps, median, ms.front(),
      ms.back(), flops, flops / (median * 1e-3) / 1e9);
  if (!t.contended.empty()) {
    std::sort(t.contended.begin(), t.contended.end());
    std::printf(
        ",\"contenders\":%d,\"quiet_median_ms\":%.4f,\"quiet_p99_ms\":%.4f,\"contended_median_ms\":%.4f,"
        "\"contended_p99_ms\":%.4f",
        o.contenders, median, percentile_of(ms, 0.99), median_of(t.contended), percentile_of(t.contended, 0.99));
  }
  if (t.reductions >= 0) std::printf(",\"adapt_threads\":true,\"governor_reductions\":%d", t.reductions);
  std::printf("}\n");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::vector<Config> configs;
  for (const auto& preset : o.presets)
    for (const auto& step : o.steps)
      for (vaegan::Index batch : o.batches)
        for (int threads : o.threads) configs.push_back({preset, step, batch, threads});
  if (o.list) {
    for (const Config& c : configs)
      std::printf("%s/%s/batch:%ld/threads:%d\n", c.preset.c_str(), c.step.c_str(), static_cast<long>(c.batch),
                  c.threads);
    return 0;
  }
  try {
    for (const Config& c : configs) {
      vaegan::set_num_threads(c.threads);
      if (o.pin) {
        const std::string why = vaegan_bench::pin_benchmark_threads(c.threads);
        if (!why.empty()) std::fprintf(stderr, "bench_step: --pin: %s\n", why.c_str());
      }
      if (o.profile) {
        // The limits of this thread count, measured once per configuration beside it.
        const Limits limits{vaegan_bench::fma_peak_gflops(c.threads), vaegan_bench::triad_bandwidth_gbs(c.threads)};
        profile_config(c, o, limits);
      } else {
        report(c, o, run(c, o));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_step: %s\n", e.what());
    return 1;
  }
  return 0;
}
