// Crash safety of checkpoint saves: SIGKILL a process at random moments while it saves
// training checkpoints, over and over, and check after every kill that the checkpoint on
// disk is a complete one: bit for bit either the last one that process finished saving
// (or, before its first save finished, the one that was there before it started) or the
// one it was saving. It must also load into a fresh trainer.
//
//   vaegan_checkpoint_kill_test [--trials N] [--dir DIR] [--seed S] [--window-saves K]
//                               [--time-budget SECONDS] [--keep] [--self-check] [--help]
//
// --trials (default 200) trials are run, except that after 100 of them the run stops
// once the trials have taken --time-budget seconds (default 25; 0: no limit), so that a
// loaded machine still finishes in about half a minute.
//
// How "complete" is known without trusting the killed process: a reference run of the
// same program (same seed, one thread, so training is deterministic) saves version s of
// the checkpoint (the trainer after s steps) to its own file ref/step-s.vgck for
// s = 1..kMaxSaves. A trial runs the same program again, this time saving every version
// to the one path dir/checkpoint.vgck and appending "done s" to a log after each save
// returns; the parent kills it after a random delay. Then with D the last "done" in the
// log, the file must equal, byte for byte,
//   ref/step-D.vgck or ref/step-(D+1).vgck  (the save in flight may have renamed already),
// or, when D = 0, whatever the file held before the trial or ref/step-1.vgck. And it
// must load with load_training_checkpoint into a fresh trainer, at the step it claims.
// The directory is not cleaned between trials: every trial saves over the previous
// trial's checkpoint and next to the temporary files earlier kills left behind (the
// newest 16 of them are kept, the older ones deleted, to bound the disk space used). At
// the end a last run saves all its versions among those leftovers and must succeed.
//
// Kill delays, measured from the spawn: half uniform over a window from 0 to the end of
// the K-th save (startup, the first save and K - 1 more; K = 5 by default,
// --window-saves), half uniform inside one of those K saves, so that many kills land in
// the middle of a write. When the saves run is learned from unkilled runs of the same
// program (the reference run, three calibration runs, and one more every 25 trials, as
// the machine's load changes); a median of the latest samples. A kill that leaves a new
// "<path>.tmp.<pid>.<n>" file behind landed between the creation of the temporary file
// and its rename: inside the write.
//
// --self-check tests the test: the children write each checkpoint straight into the
// target (truncate, then write in pieces), as a save without the temporary file would, and
// the run passes only if some trials find the damage.
//
// The child is this program re-executed (--child), never fork() alone: the parent runs
// OpenMP code (loading checkpoints), and a forked copy of an OpenMP process may hang.
// POSIX only.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"  // examples/common/cli.hpp

extern char** environ;

namespace {

namespace fs = std::filesystem;
using Trainer = vaegan::VaeGanTrainer<float>;
using Bytes = std::vector<char>;

constexpr int kMaxSaves = 12;  // versions a child saves; then it waits to be killed
constexpr int kBatch = 16;
constexpr int kMaxLeftovers = 16;  // temporary files of killed saves kept around (the rest deleted)
constexpr std::uint64_t kTrainerSeed = 7;
constexpr const char* kCheckpointName = "checkpoint.vgck";

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void die(const std::string& message) {
  std::cerr << "checkpoint_kill: FAIL: " << message << "\n";
  std::exit(1);
}

// Appends one line with a single write(2): a SIGKILL leaves the line whole or absent.
void append_line(int fd, const std::string& line) {
  const std::string s = line + "\n";
  if (::write(fd, s.data(), s.size()) != static_cast<ssize_t>(s.size())) {
    std::perror("checkpoint_kill child: write to log");
    std::_Exit(3);
  }
}

Trainer make_trainer() { return Trainer(vaegan::model_preset("seed"), {}, kTrainerSeed); }

// The child: trains one step, saves, logs, kMaxSaves times; then waits to be killed.
// --reference saves version s to DIR/ref/step-s.vgck, otherwise every version goes to
// DIR/checkpoint.vgck. After each save returns it logs "done s BEGIN END", the save's
// start and end on the monotonic clock, which all processes share.
// --saves N stops (exits 0) after N saves; without it, a trial child then sleeps.
// --direct (for --self-check) writes the bytes of each save straight into the target.
int child_main(const std::string& dir, bool reference, int saves, bool direct) {
  vaegan::set_num_threads(1);  // deterministic: the reference run and every trial agree bit for bit
  const std::string log_path = (fs::path(dir) / (reference ? "reference.log" : "trial.log")).string();
  const int log = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (log < 0) {
    std::perror(("checkpoint_kill child: " + log_path).c_str());
    return 3;
  }
  try {
    Trainer trainer = make_trainer();
    vaegan::Tensor<float> images(vaegan::Shape::matrix(kBatch, 784));
    vaegan::Rng(11).fill_uniform(images.data(), images.numel(), 0.0, 1.0);
    for (int s = 1; s <= saves; ++s) {
      trainer.train_step(images);
      const std::int64_t begin = now_ns();
      const std::string path = reference ? (fs::path(dir) / "ref" / ("step-" + std::to_string(s) + ".vgck")).string()
                                         : (fs::path(dir) / kCheckpointName).string();
      if (!direct) {
        vaegan::save_training_checkpoint<Trainer, float>(path, trainer, nullptr);
      } else {
        const std::string staging = (fs::path(dir) / "staging.vgck").string();
        vaegan::save_training_checkpoint<Trainer, float>(staging, trainer, nullptr);
        std::ifstream in(staging, std::ios::binary);
        std::ofstream out(path, std::ios::binary | std::ios::trunc);
        char chunk[1 << 16];
        while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
          out.write(chunk, in.gcount());
          out.flush();  // into the file now, so that a kill leaves what was written so far
          // A slow disk: the write takes about as long as the staging save, so kills land in it.
          std::this_thread::sleep_for(std::chrono::microseconds(300));
        }
      }
      const std::int64_t end = now_ns();
      append_line(log, "done " + std::to_string(s) + " " + std::to_string(begin) + " " + std::to_string(end));
    }
  } catch (const std::exception& e) {
    std::cerr << "checkpoint_kill child: " << e.what() << "\n";
    return 3;
  }
  ::close(log);
  if (reference || saves < kMaxSaves) return 0;
  std::this_thread::sleep_for(std::chrono::seconds(60));  // the parent kills it long before
  return 4;
}

Bytes read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) die("cannot read " + path);
  Bytes bytes(static_cast<std::size_t>(in.tellg()));
  in.seekg(0);
  if (!in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()))) die("cannot read " + path);
  return bytes;
}

std::vector<std::string> read_lines(const std::string& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

pid_t spawn_child(const std::string& self, const std::vector<std::string>& args) {
  std::vector<std::string> all{self};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  // posix_spawn: no code of ours runs between fork and exec (safe in a threaded parent).
  const int rc = ::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ);
  if (rc != 0) die("posix_spawn " + self + ": " + std::strerror(rc));
  return pid;
}

int wait_for(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die(std::string("waitpid: ") + std::strerror(errno));
  return status;
}

// The temporary files AtomicFile leaves behind when killed: "<checkpoint>.tmp.<pid>.<n>".
std::vector<std::string> temp_files(const std::string& dir) {
  std::vector<std::string> out;
  const std::string prefix = std::string(kCheckpointName) + ".tmp.";
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Loads a checkpoint into a fresh trainer; returns its step, or sets *error.
std::int64_t try_load_step(const std::string& path, std::string* error) {
  Trainer fresh = make_trainer();
  try {
    vaegan::load_training_checkpoint<Trainer, float>(path, fresh, nullptr);
  } catch (const std::exception& e) {
    *error = "load_training_checkpoint('" + path + "') failed: " + e.what();
    return -1;
  }
  return fresh.step();
}
// The same, dying on an error.
std::int64_t load_step(const std::string& path, const std::string& what) {
  std::string error;
  const std::int64_t step = try_load_step(path, &error);
  if (!error.empty()) die(what + ": " + error);
  return step;
}

// One line of a child's log: save `step` completed, running from `begin` to `end` (ns).
struct Done {
  int step = 0;
  std::int64_t begin = 0, end = 0;
};
std::vector<Done> read_log(const std::string& path) {
  std::vector<Done> out;
  for (const auto& line : read_lines(path)) {
    std::istringstream in(line);
    std::string tag;
    Done d;
    if (!(in >> tag >> d.step >> d.begin >> d.end) || tag != "done") die(path + ": bad line '" + line + "'");
    if (d.step != static_cast<int>(out.size()) + 1) die(path + " is out of order: '" + line + "'");
    out.push_back(d);
  }
  return out;
}

// When save s runs, in ns after the child is spawned: the median of the latest samples,
// taken from runs that were not killed (a killed run would only report its fast saves).
class SaveTimes {
 public:
  explicit SaveTimes(int saves) : begin_(saves + 1), end_(saves + 1) {}
  void add(const std::vector<Done>& log, std::int64_t spawned) {
    for (const Done& d : log)
      if (d.step < static_cast<int>(begin_.size())) {
        push(begin_[d.step], d.begin - spawned);
        push(end_[d.step], d.end - spawned);
      }
  }
  std::int64_t begin(int s) const { return median(begin_[s]); }
  std::int64_t end(int s) const { return std::max(median(end_[s]), begin(s) + 1); }

 private:
  static void push(std::vector<std::int64_t>& v, std::int64_t x) {
    v.push_back(x);
    if (v.size() > 15) v.erase(v.begin());
  }
  static std::int64_t median(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }
  std::vector<std::vector<std::int64_t>> begin_, end_;
};

struct Options {
  int trials = 200;
  std::string dir;
  std::uint64_t seed = 0;  // 0: from the clock (printed, so a failure can be replayed)
  int window_saves = 5;
  double time_budget = 25;
  bool keep = false;
  bool self_check = false;
};

Options parse(int argc, char** argv) {
  Options o;
  std::int64_t trials = o.trials, window_saves = o.window_saves;
  cli::Parser p("vaegan_checkpoint_kill_test",
                "Crash safety of checkpoint saves: SIGKILLs a child while it saves and checks the file\n"
                "on disk (see the comment at the top of tests/crash/checkpoint_kill.cpp).");
  p.add("trials", &trials, "trials to run (after 100, stops once --time-budget is used up)");
  p.add("dir", &o.dir, "work directory, emptied first (empty: a new one in the temporary directory)");
  p.add("seed", &o.seed, "seed of the kill delays (0: from the clock, printed)");
  p.add("window-saves", &window_saves, "kills land from the spawn to the end of this many saves");
  p.add("time-budget", &o.time_budget, "seconds of trials after which the run stops, past 100 trials (0: no limit)");
  p.add_switch("keep", &o.keep, "keep the work directory");
  p.add_switch("self-check", &o.self_check, "test the test: children write in place and must be caught");
  p.require([&] { return trials >= 1 && window_saves >= 1 && window_saves <= kMaxSaves - 2; },
            "need --trials >= 1 and --window-saves 1.." + std::to_string(kMaxSaves - 2));
  p.parse(argc, argv);
  o.trials = static_cast<int>(trials);
  o.window_saves = static_cast<int>(window_saves);
  return o;
}

// The child's command line, from spawn_child: --child DIR [--reference] [--direct] [--saves N].
int child_parse_and_run(int argc, char** argv) {
  std::string dir;
  bool reference = false, direct = false;
  std::int64_t saves = kMaxSaves;
  cli::Parser p("vaegan_checkpoint_kill_test --child", "The child process the test spawns (not run by hand).");
  p.add("child", &dir, "directory to save into");
  p.add_switch("reference", &reference, "the reference run: every version to its own file");
  p.add_switch("direct", &direct, "write in place, without the temporary file (--self-check)");
  p.add("saves", &saves, "versions to save");
  p.require([&] { return !dir.empty(); }, "--child needs a directory");
  p.parse(argc, argv);
  return child_main(dir, reference, static_cast<int>(std::clamp<std::int64_t>(saves, 1, kMaxSaves)), direct);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--child") == 0) return child_parse_and_run(argc, argv);

  const Options o = parse(argc, argv);
  std::error_code ec;
  const std::string self = fs::read_symlink("/proc/self/exe", ec).string();
  if (ec) die("cannot find this program's path via /proc/self/exe: " + ec.message());
  const std::string dir =
      o.dir.empty() ? (fs::temp_directory_path() / ("vaegan-kill-" + std::to_string(::getpid()))).string() : o.dir;
  fs::remove_all(dir);
  fs::create_directories(fs::path(dir) / "ref");
  const std::uint64_t seed = o.seed ? o.seed : static_cast<std::uint64_t>(now_ns());
  std::mt19937_64 rng(seed);

  // ---- the reference run: every version in its own file, and the save timings ----------
  const std::int64_t ref_spawned = now_ns();
  const int ref_status = wait_for(spawn_child(self, {"--child", dir, "--reference"}));
  if (!WIFEXITED(ref_status) || WEXITSTATUS(ref_status) != 0) die("the reference run failed");
  const double ref_seconds = (now_ns() - ref_spawned) * 1e-9;
  const std::vector<Done> ref_log = read_log((fs::path(dir) / "reference.log").string());
  if (ref_log.size() != static_cast<std::size_t>(kMaxSaves)) die("reference.log lacks saves");
  SaveTimes times(o.window_saves);
  times.add(ref_log, ref_spawned);
  std::vector<Bytes> version(kMaxSaves + 1);  // version[s]: the checkpoint after s steps
  for (int s = 1; s <= kMaxSaves; ++s) {
    const std::string path = (fs::path(dir) / "ref" / ("step-" + std::to_string(s) + ".vgck")).string();
    version[s] = read_file(path);
    if (load_step(path, "reference version") != s) die(path + " does not load as step " + std::to_string(s));
    for (int t = 1; t < s; ++t)
      if (version[t] == version[s]) die("versions " + std::to_string(t) + " and " + std::to_string(s) + " are equal");
  }
  std::printf("checkpoint_kill: seed %llu, %d trials in %s\n", static_cast<unsigned long long>(seed), o.trials,
              dir.c_str());
  std::printf(
      "reference run: %.3f s; checkpoint %zu bytes; first save %.1f..%.1f ms after the spawn; kill window "
      "0..%.1f ms (%d saves)\n",
      ref_seconds, version[1].size(), times.begin(1) * 1e-6, times.end(1) * 1e-6, times.end(o.window_saves) * 1e-6,
      o.window_saves);

  // ---- the trials ------------------------------------------------------------------------
  const std::string target = (fs::path(dir) / kCheckpointName).string();
  const std::string trial_log = (fs::path(dir) / "trial.log").string();
  Bytes before;  // the file before this trial (empty: none yet)
  bool have_before = false;
  int mid_write = 0, kept_previous = 0, got_new = 0, no_file = 0, before_first_done = 0, damaged = 0;
  std::map<int, int> by_done;  // completed saves at the kill -> trials
  std::int64_t slept_ns = 0, reap_ns = 0, check_ns = 0, window_ns = 0;
  const std::int64_t trials_t0 = now_ns();
  // A run in trial mode, unkilled, in a directory of its own: the save times trials see.
  const std::string calib = (fs::path(dir) / "calibration").string();
  fs::create_directories(calib);
  auto calibrate = [&] {
    fs::remove(fs::path(calib) / "trial.log");
    const std::int64_t spawned = now_ns();
    std::vector<std::string> args{"--child", calib, "--saves", std::to_string(o.window_saves)};
    if (o.self_check) args.push_back("--direct");
    const int status = wait_for(spawn_child(self, args));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("a calibration run failed");
    times.add(read_log((fs::path(calib) / "trial.log").string()), spawned);
  };
  for (int i = 0; i < 3; ++i) calibrate();
  constexpr int kMinTrials = 100;
  int trials = 0;
  for (int trial = 1; trial <= o.trials; ++trial) {
    if (trial > kMinTrials && o.time_budget > 0 && (now_ns() - trials_t0) * 1e-9 > o.time_budget) {
      std::printf("time budget of %.0f s used up: stopping after %d of %d trials\n", o.time_budget, trials, o.trials);
      break;
    }
    trials = trial;
    if (trial % 25 == 0) calibrate();  // the machine's load changes
    // The window: from the spawn to the end of save K (startup included).
    std::int64_t delay;
    if (rng() % 2 == 0) {
      delay = std::uniform_int_distribution<std::int64_t>(0, times.end(o.window_saves))(rng);
    } else {
      const int s = std::uniform_int_distribution<int>(1, o.window_saves)(rng);
      delay = std::uniform_int_distribution<std::int64_t>(times.begin(s), times.end(s))(rng);
    }
    window_ns += times.end(o.window_saves);
    fs::remove(trial_log);
    const std::size_t temps_before = temp_files(dir).size();
    const std::int64_t spawned = now_ns();
    const pid_t pid = spawn_child(self, o.self_check ? std::vector<std::string>{"--child", dir, "--direct"}
                                                     : std::vector<std::string>{"--child", dir});
    std::this_thread::sleep_for(std::chrono::nanoseconds(delay));
    if (::kill(pid, SIGKILL) != 0) die(std::string("kill: ") + std::strerror(errno));
    const std::int64_t killed = now_ns();
    const int status = wait_for(pid);
    const std::int64_t reaped = now_ns();
    slept_ns += killed - spawned;
    reap_ns += reaped - killed;
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
      die("trial " + std::to_string(trial) + ": the child ended on its own (status " + std::to_string(status) +
          ") instead of being killed; see the messages above");

    const std::vector<Done> log = read_log(trial_log);
    const int done = static_cast<int>(log.size());
    by_done[done]++;
    const std::size_t temps_after = temp_files(dir).size();
    const bool landed_mid_write = temps_after > temps_before;
    if (temps_after > temps_before + 1) die("one kill left more than one temporary file");
    mid_write += landed_mid_write;

    const std::string where = "trial " + std::to_string(trial) + " (delay " + std::to_string(delay / 1000) + " us, " +
                              std::to_string(done) + " saves done)";
    const bool exists = fs::exists(target);
    Bytes now;
    if (exists) now = read_file(target);
    // The two acceptable states.
    const Bytes* previous = done > 0 ? &version[done] : (have_before ? &before : nullptr);
    const Bytes* next = &version[std::min(done + 1, kMaxSaves)];
    if (done == kMaxSaves) next = previous;  // all saves done: only the last one
    std::string problem;
    if (!exists) {
      if (previous != nullptr) problem = "the checkpoint is gone";
      else ++no_file;
    } else if (previous != nullptr && now == *previous) {
      ++kept_previous;
    } else if (now == *next) {
      ++got_new;
    } else {
      int match = 0;
      for (int s = 1; s <= kMaxSaves; ++s)
        if (now == version[s]) match = s;
      problem = "the checkpoint (" + std::to_string(now.size()) + " bytes) is neither the previous complete one " +
                "nor the new one" + (match ? " but version " + std::to_string(match) : " nor any complete version");
    }
    if (exists) {
      std::string error;
      const std::int64_t step = try_load_step(target, &error);
      if (!error.empty()) {
        problem += (problem.empty() ? "" : "; ") + error;
      } else if (step < 1 || step > kMaxSaves || now != version[step]) {
        problem += (problem.empty() ? "" : "; ") + std::string("the checkpoint loads as step ") + std::to_string(step) +
                   " but its bytes are not that version";
      }
    }
    if (!problem.empty()) {
      if (!o.self_check) die(where + ": " + problem);
      ++damaged;
      if (damaged <= 3) std::printf("self-check: %s: %s\n", where.c_str(), problem.c_str());
    }
    if (done == 0) ++before_first_done;
    check_ns += now_ns() - reaped;
    before = now;
    have_before = exists;
    if (!problem.empty()) {  // self-check: start the next trial without the damaged file
      fs::remove(target);
      have_before = false;
    }
    // Bound the disk space: keep the newest kMaxLeftovers temporary files (each is up to
    // a checkpoint's size), so later trials always run next to a pile of them.
    std::vector<std::string> temps = temp_files(dir);
    if (temps.size() > static_cast<std::size_t>(kMaxLeftovers)) {
      std::sort(temps.begin(), temps.end(), [&](const std::string& a, const std::string& b) {
        return fs::last_write_time(fs::path(dir) / a) < fs::last_write_time(fs::path(dir) / b);
      });
      for (std::size_t i = 0; i + kMaxLeftovers < temps.size(); ++i) fs::remove(fs::path(dir) / temps[i]);
    }
  }

  const double trials_seconds = (now_ns() - trials_t0) * 1e-9;

  if (o.self_check) {
    // Direct writes leave no temporary files; the trials must have caught the damage.
    std::printf("self-check: %d of %d trials found the checkpoint damaged by a kill during a direct write\n", damaged,
                trials);
    if (damaged == 0) die("self-check: no trial noticed a checkpoint written without the temporary file");
    if (!o.keep) fs::remove_all(dir);
    std::printf("checkpoint_kill: PASS (the test detects non-atomic saves)\n");
    return 0;
  }

  // ---- the leftovers do not stop later saves ----------------------------------------------
  const std::vector<std::string> leftovers = temp_files(dir);
  std::uintmax_t leftover_bytes = 0;
  for (const auto& name : leftovers) leftover_bytes += fs::file_size(fs::path(dir) / name);
  // One last child saves kMaxSaves versions among every leftover, then is killed while idle.
  fs::remove(trial_log);
  const pid_t last = spawn_child(self, {"--child", dir});
  for (int waited = 0; read_lines(trial_log).size() < static_cast<std::size_t>(kMaxSaves); waited += 10) {
    if (waited > 30000) die("the final run did not finish its saves within 30 s");
    int status = 0;
    if (::waitpid(last, &status, WNOHANG) == last)
      die("the final run exited early (status " + std::to_string(status) + ")");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ::kill(last, SIGKILL);
  wait_for(last);
  if (read_file(target) != version[kMaxSaves] || load_step(target, "final run") != kMaxSaves)
    die("after the trials, a fresh run among the leftover temporary files did not save a complete checkpoint");
  if (temp_files(dir).size() != leftovers.size()) die("the final, unkilled run left a temporary file behind");

  std::printf(
      "%d trials, %d kills inside a write (a temporary file was left), %d before the first save "
      "of the trial completed\n",
      trials, mid_write, before_first_done);
  std::printf(
      "file after the kill: %d the previous complete checkpoint, %d the new complete one, %d none yet "
      "(killed before the first save ever completed); 0 damaged\n",
      kept_previous, got_new, no_file);
  std::printf("saves completed at the kill:");
  for (const auto& [d, n] : by_done) std::printf(" %d:%d", d, n);
  std::printf(
      "\nleft behind: one temporary file per kill inside a write, %d in all (up to %zu bytes each); "
      "later saves never remove them and still succeed (the last %zu, %ju bytes, were there during "
      "the final run); every checkpoint loaded\n",
      mid_write, version[1].size(), leftovers.size(), leftover_bytes);
  std::printf("kill window: on average 0..%.1f ms after the spawn (from the save times of unkilled runs)\n",
              window_ns * 1e-6 / trials);
  std::printf(
      "time: %.1f s for the trials (%.1f s until the kills, %.1f s for the killed processes to end, "
      "%.1f s checking)\n",
      trials_seconds, slept_ns * 1e-9, reap_ns * 1e-9, check_ns * 1e-9);
  if (mid_write == 0) die("no kill landed inside a write: the test proved nothing (is the disk very fast?)");
  if (!o.keep) fs::remove_all(dir);
  std::printf("checkpoint_kill: PASS\n");
  return 0;
}
