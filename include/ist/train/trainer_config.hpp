#pragma once
// TrainerConfig: everything that shapes a training run besides the policies themselves.
#include <cmath>
#include <cstdint>
#include <string>

#include "ist/core/error.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/layers/resnet_network.hpp"
#include "ist/optim/schedule.hpp"
#include "ist/optim/sgd.hpp"

namespace ist {

// What happens to the optimizer's state (SGD momentum) between rounds.
enum class OptimizerState {
  ResetEachRound,  // every round starts from zero momentum (the ResIST paper)
  Carry,           // global momentum is kept beside the parameters, sent with them and averaged the same way
};

// Which samples each worker trains on.
enum class DataSplit {
  ShuffledWhole,  // every worker shuffles the whole training set with its own seed (the ResIST paper)
  Disjoint,       // worker w gets samples w, w+S, w+2S, ...
};

struct TrainerConfig {
  int local_steps = 50;                // L: optimizer steps per worker per round
  double epochs = 1.0;                 // passes of each worker over its data
  int max_rounds = 0;                  // > 0: stop after this many rounds (overrides epochs)
  int batch = 128;                     // per worker
  optim::SgdConfig sgd{0.1, 0.9, 5e-4, false};
  std::string schedule = "constant";   // see ist::optim::parse_schedule; positions are in epochs
  std::uint64_t seed = 1;
  int eval_every = 1;                  // evaluate the global model every K rounds (0: only at the end)
  int eval_batch = 128;
  int eval_threads = 0;                // 0: this process's workers x threads_per_worker
  OptimizerState optimizer_state = OptimizerState::ResetEachRound;
  DataSplit data_split = DataSplit::ShuffledWhole;
  Normalization normalization;         // applied to every batch (empty: pixels / 255)
  Augmentation augmentation;
  std::string metrics_path;            // JSONL, one row per round ("" = none)
  bool progress = true;                // one line per round on stdout
};

inline void validate(const TrainerConfig& c) {
  const char* who = "ist::TrainerConfig";
  IST_CHECK(c.local_steps >= 1, who, ": local_steps (L) must be >= 1, found ", c.local_steps);
  IST_CHECK(std::isfinite(c.epochs) && (c.epochs > 0 || c.max_rounds > 0), who,
            ": epochs must be > 0 (or max_rounds > 0), found epochs ", c.epochs, ", max_rounds ", c.max_rounds);
  IST_CHECK(c.max_rounds >= 0, who, ": max_rounds must be >= 0, found ", c.max_rounds);
  IST_CHECK(c.batch >= 1, who, ": batch must be >= 1, found ", c.batch);
  IST_CHECK(c.eval_every >= 0, who, ": eval_every must be >= 0, found ", c.eval_every);
  IST_CHECK(c.eval_batch >= 1, who, ": eval_batch must be >= 1, found ", c.eval_batch);
  IST_CHECK(c.eval_threads >= 0, who, ": eval_threads must be >= 0, found ", c.eval_threads);
  optim::validate(c.sgd, "ist::TrainerConfig: sgd");
  (void)optim::parse_schedule(c.schedule, c.sgd.lr, c.epochs > 0 ? c.epochs : 1.0);
}

}  // namespace ist
