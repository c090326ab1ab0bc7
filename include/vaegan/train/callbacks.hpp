#pragma once
// The training callbacks of fit() (train/fit.hpp has the protocol), one per header:
//   ProgressBar     the console: a bar with rate and ETA, or plain lines in a log
//   LossLog         losses.csv and losses.svg, one row per epoch
//   SampleGrid      sample (and reconstruction) grids every N epochs or steps
//   ScoreSamples    FID, precision and recall every N epochs or steps (metrics.csv)
//   Checkpoint      the training checkpoint every N epochs or steps and at the end
//   EarlyStop       ends training when a statistic stops improving
//   TrainingReport  report.html: all of the above on one page
// Every takes a schedule (Every::epochs(n), Every::steps(n)); RunFiles names the files.
#include "vaegan/train/callbacks/checkpoint.hpp"
#include "vaegan/train/callbacks/early_stop.hpp"
#include "vaegan/train/callbacks/every.hpp"
#include "vaegan/train/callbacks/loss_log.hpp"
#include "vaegan/train/callbacks/progress_bar.hpp"
#include "vaegan/train/callbacks/run_files.hpp"
#include "vaegan/train/callbacks/sample_grid.hpp"
#include "vaegan/train/callbacks/score_samples.hpp"
#include "vaegan/train/callbacks/training_report.hpp"
