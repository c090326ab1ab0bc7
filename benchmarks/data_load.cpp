// bench_data_load: how long loading a data set takes and how much memory it needs, as one
// JSON line per load. Run one load per process (--repeat 1, the default) when the peak
// memory matters: ru_maxrss is the process's peak so far. benchmarks/data_load.sh runs the
// loads the README reports (Fashion-MNIST's IDX files, and a folder of 60,000 PNGs that
// make_image_folder writes from them).
//
//   bench_data_load --idx DIR [--split train]                    an IDX data set
//   bench_data_load --folder DIR [--channels 1] [--image-size 0]  an image folder, all of it
//   common: --threads N (0: all cores), --repeat N, --batch 64 (then one epoch of the
//           batch loop, timed; tests/alloc checks that its steady state allocates nothing)
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <vaegan/vaegan.hpp>

#include "cli.hpp"

namespace {

double peak_rss_mb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace

int main(int argc, char** argv) {
  std::string idx, folder, split = "train";
  std::int64_t channels = 1, image_size = 0, threads = 0, repeat = 1, batch = 64;
  cli::Parser p("bench_data_load", "Time loading a data set (IDX or image folder) and its batch loop; JSON lines.");
  p.add("idx", &idx, "directory of an IDX data set (MNIST's file names)");
  p.add("split", &split, "IDX split: train or test");
  p.add("folder", &folder, "image folder (every image, no test split)");
  p.add("channels", &channels, "image folder: 1 or 3");
  p.add("image-size", &image_size, "image folder: resize to N x N (0: keep)");
  p.add("threads", &threads, "threads (0: all cores)");
  p.add("repeat", &repeat, "loads in this process (peak memory is the process's)");
  p.add("batch", &batch, "batch size of the timed epoch of the batch loop (0: none)");
  bool list = false;
  p.add_switch("benchmark_list_tests", &list, "print what would be loaded and exit, as Google Benchmark programs");
  p.require([&] { return list || idx.empty() != folder.empty(); }, "give one of --idx DIR and --folder DIR");
  p.require([&] { return repeat >= 1; }, "--repeat must be >= 1");
  p.parse(argc, argv);
  if (list) {
    std::printf("load %s\n",
                idx.empty() ? (folder.empty() ? "(give --idx DIR or --folder DIR)" : folder.c_str()) : idx.c_str());
    return 0;
  }
  if (threads > 0) vaegan::set_num_threads(static_cast<int>(threads));
  try {
    for (std::int64_t r = 0; r < repeat; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      vaegan::ImageDataset<float> data;
      if (!idx.empty()) {
        data = vaegan::load_mnist<float>(idx, split);
      } else {
        vaegan::ImageFolderOptions o;
        o.channels = static_cast<int>(channels);
        o.image_size = image_size;
        o.test_fraction = 0;
        data = vaegan::load_image_folder<float>(folder, "train", o);
      }
      const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      double epoch_s = 0;
      vaegan::Index batches = 0;
      if (batch > 0) {
        vaegan::Batches<float> loop = data.batches({std::min<vaegan::Index>(batch, data.size()), 1});
        vaegan::Tensor<float> x;
        std::vector<std::uint8_t> labels;
        const auto t1 = std::chrono::steady_clock::now();
        while (loop.next(x, &labels)) ++batches;
        epoch_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
      }
      std::printf(
          "{\"source\":\"%s\",\"path\":\"%s\",\"images\":%lld,\"shape\":\"%s\",\"threads\":%d,\"load_s\":%.4f,"
          "\"images_per_s\":%.0f,\"dataset_mb\":%.1f,\"peak_rss_mb\":%.1f,\"epoch_batches\":%lld,\"epoch_s\":%.4f}\n",
          idx.empty() ? "folder" : "idx", (idx.empty() ? folder : idx).c_str(), static_cast<long long>(data.size()),
          data.image_shape().str().c_str(), vaegan::num_threads(), load_s, static_cast<double>(data.size()) / load_s,
          static_cast<double>(data.images().numel()) * sizeof(float) / (1 << 20), peak_rss_mb(),
          static_cast<long long>(batches), epoch_s);
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_data_load: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
