#pragma once
// TrainerConfig: everything that shapes a training run besides the policies themselves.
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/codec/codec.hpp"
#include "ist/core/error.hpp"
#include "ist/data/batch_iterator.hpp"
#include "ist/io/json.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/graph_norm.hpp"
#include "ist/model/init.hpp"
#include "ist/optim/schedule.hpp"
#include "ist/optim/sgd.hpp"

namespace ist {

// What happens to the optimizer's state (its per-parameter state buffers: SGD's momentum, Adam's moments,
// NovoGrad's first moment) between rounds.
enum class OptimizerState {
  ResetEachRound,  // every round starts from fresh optimizer state (the ResIST paper, GIST)
  Carry,           // global state buffers are kept beside the parameters, sent with them and averaged the same way
};

// Which samples each worker trains on.
enum class DataSplit {
  ShuffledWhole,  // every worker shuffles the whole training set with its own seed (the ResIST paper)
  Disjoint,       // worker w gets samples w, w+S, w+2S, ...
};

// What the trainer does when a worker fails during its local steps (throws, or under MPI reports a
// failure).
enum class WorkerFailure {
  Abort,         // the exception ends fit() (the last checkpoint stays intact)
  DropForRound,  // the worker's update is left out of the merge: what only it held keeps its previous value
};

// Over which workers the rounds after a failure are partitioned (with WorkerFailure::DropForRound).
enum class AfterFailure {
  Survivors,   // the failed worker is left out from then on: S shrinks
  AllWorkers,  // the failure was transient: the next round uses every worker again
};

// The options of graph training (ist::GraphBatches, the local work of ist::Gcn and ist::Sage: GIST).
struct GraphOptions {
  double dropout = 0.5;                // drop probability of every layer's input
  // 0: every local step is one full-batch step on the whole graph. q >= 1: Cluster-GCN, each local step
  // trains on the subgraph of q random parts of GraphDataset::partition (partition_graph), edges between them
  // restored; an epoch is floor(parts / q) steps (floor(floor(parts / S) / q) with DataSplit::Disjoint).
  int clusters_per_batch = 0;
  // Cluster-GCN batches of a GCN: < 0: the batch's A_hat; >= 0: the diagonal enhancement
  // (D + I)^-1 (A + I) + lambda diag(...), diagonal_enhanced_adjacency.
  double diag_lambda = -1;
  GraphNorm norm = GraphNorm::None;    // non-affine layer norm after hidden layers
  // Weight decay on the first layer's weight only (Kipf & Welling): the engine adds the optimizer's
  // weight_decay as L2 to that gradient itself and runs the optimizer without decay. false: the
  // optimizer's own decay on every parameter.
  bool decay_first_layer_only = true;
};

// A slow worker, for experiments on capacity-aware shares: worker `worker`'s local steps take `factor` times
// as long (it sleeps (factor - 1) times their duration after them).
struct WorkerThrottle {
  int worker = 0;
  double factor = 1.0;
};

// Which clock measures a worker's local steps for the pace history (capacity-aware plans, docs/capacity.md).
enum class PaceClock {
  Wall,  // wall seconds, the throttle's sleep included: what a worker takes on its machine (a cluster)
  // the CPU time of the worker's thread times its throttle factor: what it would take on a core of its own,
  // whatever else shares the machine (one compute thread per worker; experiments on a shared machine)
  Cpu,
};

// Every field, its default and its meaning: docs/training.md, "Configuration". S (the number of workers) is
// not a field: it is the backend's communicator's (InProcessComm(S), MpiComm: one per rank).
struct TrainerConfig {
  int local_steps = 50;                // L: optimizer steps per worker per round
  double epochs = 1.0;                 // passes of each worker over its data (graphs: full-batch steps)
  // > 0: train exactly this many rounds (epochs then only positions the schedule); 0: the number of rounds
  // follows from epochs, ceil(epochs * steps_per_epoch / L).
  int max_rounds = 0;
  int batch = 128;                     // per worker (image families)
  // The optimizer when none is passed to the trainer (IndependentSubnetTrainer's constructor or
  // set_optimizer take any OptimizerPolicy: optim::SgdConfig, AdamConfig, NovoGradConfig, a user's).
  optim::SgdConfig sgd{0.1, 0.9, 5e-4, false};
  std::string schedule = "constant";   // see ist::optim::parse_schedule; positions are in epochs
  std::uint64_t seed = 1;
  // How the model's weights are drawn where its family offers a choice (ResNets: ist/model/init.hpp).
  InitScheme init_scheme = InitScheme::KaimingNormal;
  int eval_every = 1;                  // evaluate the global model every K rounds (0: only at the end)
  int eval_batch = 128;
  int eval_threads = 0;                // 0: this process's workers x threads_per_worker
  OptimizerState optimizer_state = OptimizerState::ResetEachRound;
  DataSplit data_split = DataSplit::ShuffledWhole;
  Normalization normalization;         // applied to every batch (empty: pixels / 255)
  Augmentation augmentation;
  std::string metrics_path;            // JSONL, one row per round ("" = none)
  // Rows also hold train_loss_steps: per worker (index = worker id), the mean batch loss of each local step.
  bool metrics_step_losses = false;
  bool progress = true;                // one line per round on stdout
  // Checkpoints (ist/train/checkpoint_dir.hpp): after every `checkpoint_every` rounds and after the last
  // one, the coordinator writes <checkpoint_dir>/round-NNNNNN.ckpt atomically and keeps the newest
  // `keep_checkpoints` files. "" = no checkpoints.
  std::string checkpoint_dir;
  int checkpoint_every = 1;
  int keep_checkpoints = 3;
  WorkerFailure on_worker_failure = WorkerFailure::Abort;
  AfterFailure after_failure = AfterFailure::Survivors;
  GraphOptions graph;                  // graph families only
  // How slices travel between the coordinator and the workers (ist/codec/codec.hpp, docs/codecs.md):
  // "float32" (bit-exact, the default) | "bf16" | "fp16" | "topk:F" (the top F of each update, error feedback).
  std::string codec = "float32";
  // Slow workers for experiments (WorkerThrottle). They change timings only, so checkpoints do not record them.
  std::vector<WorkerThrottle> throttle;
  PaceClock pace_clock = PaceClock::Wall;
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
  IST_CHECK(c.checkpoint_every >= 1, who, ": checkpoint_every must be >= 1, found ", c.checkpoint_every);
  IST_CHECK(c.keep_checkpoints >= 1, who, ": keep_checkpoints must be >= 1, found ", c.keep_checkpoints);
  IST_CHECK(c.graph.dropout >= 0.0 && c.graph.dropout < 1.0, who, ": graph.dropout must be in [0, 1), found ",
            c.graph.dropout);
  IST_CHECK(c.graph.clusters_per_batch >= 0, who, ": graph.clusters_per_batch must be >= 0 (0: full batch), found ",
            c.graph.clusters_per_batch);
  IST_CHECK(std::isfinite(c.graph.diag_lambda), who, ": graph.diag_lambda must be finite, found ", c.graph.diag_lambda);
  optim::validate(c.sgd, "ist::TrainerConfig: sgd");
  (void)codec::parse_codec(c.codec, "ist::TrainerConfig: codec");
  for (const WorkerThrottle& t : c.throttle)
    IST_CHECK(t.worker >= 0 && std::isfinite(t.factor) && t.factor >= 1.0, who,
              ": throttle: expected a worker id >= 0 and a factor >= 1, found worker ", t.worker, ", factor ", t.factor);
  (void)optim::parse_schedule(c.schedule, c.sgd.lr, c.epochs > 0 ? c.epochs : 1.0);
}

// The configuration as a JSON object, stored in every checkpoint (run_config_json adds the optimizer's).
inline nlohmann::ordered_json config_json(const TrainerConfig& c) {
  return {{"seed", c.seed},
          {"local_steps", c.local_steps},
          {"batch", c.batch},
          {"epochs", c.epochs},
          {"max_rounds", c.max_rounds},
          {"schedule", c.schedule},
          {"optimizer_state", c.optimizer_state == OptimizerState::Carry ? "carry" : "reset"},
          {"data_split", c.data_split == DataSplit::Disjoint ? "disjoint" : "shuffled"},
          {"graph_dropout", c.graph.dropout},
          {"graph_norm", int(c.graph.norm)},
          {"graph_decay_first_layer_only", c.graph.decay_first_layer_only},
          {"graph_clusters_per_batch", c.graph.clusters_per_batch},
          {"graph_diag_lambda", c.graph.diag_lambda},
          {"codec", codec::parse_codec(c.codec, "ist::TrainerConfig: codec").name()}};
}

// What a trainer stores in its checkpoints: config_json(c) and, under "optimizer", the optimizer's
// {"name": ..., hyperparameters...} (AnyOptimizer::config_json).
inline nlohmann::ordered_json run_config_json(const TrainerConfig& c, nlohmann::ordered_json optimizer) {
  nlohmann::ordered_json j = config_json(c);
  j["optimizer"] = std::move(optimizer);
  return j;
}

// Resuming continues the saved run's data streams and plans, so what decides them must not change: the seed,
// L, the batch, the data split and whether optimizer state is carried, and with carried state the optimizer
// (its state buffers), and the transfer codec (a checkpoint without the field was written with float32).
// Everything else (learning rate, schedule, epochs, S) may change at a round boundary.
// `saved` is the checkpoint's config, `now` run_config_json of this run. Throws naming the first field that
// differs.
inline void check_resumable(const nlohmann::ordered_json& saved, const nlohmann::ordered_json& now,
                            const TrainerConfig& now_config, const std::string& path) {
  IST_CHECK(saved.is_object(), "ist: resume from ", path, ": the checkpoint's config is ",
            saved.is_string() ? "key=value text (a version 1 or 2 checkpoint, written by an older ist)"
                              : detail::json_kind(saved),
            ", not a JSON object: this ist cannot tell whether the run may continue; start a new run (the "
            "checkpoint's weights still load with ist::read_checkpoint)");
  // A field as a message shows it: strings without quotes.
  auto text = [](const nlohmann::ordered_json& v) { return v.is_string() ? v.get<std::string>() : detail::json_text(v); };
  auto field = [&](const nlohmann::ordered_json& config, const char* key) -> const nlohmann::ordered_json* {
    if (std::string_view(key) == "optimizer") {  // the optimizer's name
      const auto it = config.find("optimizer");
      if (it == config.end() || !it->is_object()) return nullptr;
      const auto name = it->find("name");
      return name == it->end() ? nullptr : &*name;
    }
    const auto it = config.find(key);
    return it == config.end() ? nullptr : &*it;
  };
  std::vector<const char*> keys = {"seed", "local_steps", "batch", "data_split", "optimizer_state"};
  if (now_config.optimizer_state == OptimizerState::Carry) keys.push_back("optimizer");
  for (const char* key : keys) {
    const nlohmann::ordered_json* s = field(saved, key);
    const nlohmann::ordered_json* c = field(now, key);
    IST_CHECK(s != nullptr, "ist: resume from ", path, ": the checkpoint's config has no field ", key,
              " (written by another version?)");
    IST_CHECK(c != nullptr, "ist::check_resumable: the current config has no field ", key);
    IST_CHECK(*s == *c, "ist: resume from ", path, ": ", key, " must match the checkpoint's (", text(*s), "), found ",
              text(*c), ": pass the same value to continue this run, or start a new run without resuming");
  }
  // Cluster-GCN's parts per batch decides every graph batch (a checkpoint without the field trained full-batch).
  const nlohmann::ordered_json* saved_q = field(saved, "graph_clusters_per_batch");
  const nlohmann::ordered_json* now_q = field(now, "graph_clusters_per_batch");
  const nlohmann::ordered_json full_batch = 0;
  if (saved_q == nullptr) saved_q = &full_batch;
  IST_CHECK(now_q != nullptr, "ist::check_resumable: the current config has no field graph_clusters_per_batch");
  IST_CHECK(*saved_q == *now_q, "ist: resume from ", path, ": graph_clusters_per_batch must match the checkpoint's (",
            text(*saved_q), "), found ", text(*now_q),
            ": pass the same --clusters-per-batch to continue this run, or start a new run without resuming");
  // The codec decides the arithmetic of every round (and TopK's residuals live in the checkpoint).
  const nlohmann::ordered_json* saved_codec = field(saved, "codec");
  const nlohmann::ordered_json* now_codec = field(now, "codec");
  const nlohmann::ordered_json float32 = "float32";
  if (saved_codec == nullptr) saved_codec = &float32;  // written before codecs existed
  IST_CHECK(now_codec != nullptr, "ist::check_resumable: the current config has no field codec");
  IST_CHECK(*saved_codec == *now_codec, "ist: resume from ", path, ": codec must match the checkpoint's (",
            text(*saved_codec), "), found ", text(*now_codec),
            ": pass the same --codec to continue this run, or start a new run without resuming");
}

}  // namespace ist
