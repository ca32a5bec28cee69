#pragma once
// The flags every training program shares (ist-train, ist-mlp, gist-gcn): seed, evaluation, metrics,
// progress, optimizer state between rounds, the transfer codec, checkpoints and resume, worker-failure
// handling, the final weights for PyTorch. One home, so each program offers the engine's features the same way.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/codec/codec.hpp"
#include "ist/core/error.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/speed_proportional.hpp"
#include "ist/io/json.hpp"
#include "ist/io/state_dict.hpp"
#include "ist/train/checkpoint_dir.hpp"
#include "ist/train/trainer_config.hpp"

namespace ist::examples {

struct RunFlags {
  std::string optimizer_state = "reset";
  bool resume = false;          // from the newest checkpoint in --checkpoint-dir
  std::string resume_from;      // a checkpoint file or directory
  std::string on_failure = "abort", after_failure = "survivors";
  std::string inject_failure;   // "W:R": worker W throws in round R (1-based), to try the failure handling
  std::string save_weights;     // write the final global model here (safetensors, PyTorch names)
  std::string init_weights;     // start from this model (safetensors, PyTorch names) instead of the seed's
  std::string shares = "equal";  // equal | speed | steps: the random cut's shares (SpeedProportional for speed, steps)
  std::vector<std::string> throttle;  // "W:F": worker W's local steps take F times as long
  std::string pace_clock = "wall";    // wall | cpu: how the pace history times a worker's local steps
};

// How a run is laid out, in every program: -S, -L, --epochs, --max-rounds, --schedule, --threads,
// --sequential. The help texts say what a worker, a local step and an epoch are in the program.
inline void add_layout_flags(CLI::App& app, TrainerConfig& t, int& workers, int& threads, bool& sequential,
                             const std::string& workers_help, const std::string& local_steps_help,
                             const std::string& epochs_help) {
  app.add_option("-S,--workers", workers, workers_help)->capture_default_str()->check(CLI::Range(1, 1 << 30));
  app.add_option("-L,--local-steps", t.local_steps, local_steps_help)->capture_default_str();
  app.add_option("--epochs", t.epochs, epochs_help)->capture_default_str();
  app.add_option("--max-rounds", t.max_rounds, "stop after this many rounds (0 = from --epochs)")->capture_default_str();
  app.add_option("--schedule", t.schedule, "learning-rate schedule: constant | step:F1,F2,... | cosine")
      ->capture_default_str();
  app.add_option("--threads", threads, "compute threads per worker")
      ->capture_default_str()->check(CLI::Range(1, 1 << 30));
  app.add_flag("--sequential", sequential, "run the workers one after another (clean per-worker timings)");
}

// The image programs' batching flags: --batch, --eval-batch, --data-split, --train-subset, --test-subset.
inline void add_batch_flags(CLI::App& app, TrainerConfig& t, int& train_subset, int& test_subset,
                            const std::string& eval_batch_help, const std::string& subset_help) {
  app.add_option("--batch", t.batch, "batch size per worker")->capture_default_str();
  app.add_option("--eval-batch", t.eval_batch, eval_batch_help)->capture_default_str();
  app.add_option_function<std::string>(
         "--data-split",
         [&t](const std::string& s) { t.data_split = s == "disjoint" ? DataSplit::Disjoint : DataSplit::ShuffledWhole; },
         "shuffled (each worker shuffles all data) | disjoint")
      ->check(CLI::IsMember({"shuffled", "disjoint"}))
      ->default_str(t.data_split == DataSplit::Disjoint ? "disjoint" : "shuffled");
  app.add_option("--train-subset", train_subset, "use only N training images (0 = all): " + subset_help)
      ->capture_default_str()->check(CLI::Range(0, 1 << 30));
  app.add_option("--test-subset", test_subset, "use only N test images (0 = all), chosen as --train-subset's")
      ->capture_default_str()->check(CLI::Range(0, 1 << 30));
}

inline void add_run_flags(CLI::App& app, RunFlags& f, TrainerConfig& t) {
  app.add_option("--seed", t.seed, "random seed: initialization, plans, data order, dropout")->capture_default_str();
  app.add_option("--eval-every", t.eval_every, "evaluate every K rounds (0 = only at the end)")->capture_default_str();
  app.add_option("--metrics", t.metrics_path, "write one JSON row per round to this file (JSONL)");
  app.add_flag("!--quiet", t.progress, "no per-round progress lines");
  app.add_option("--optimizer-state", f.optimizer_state,
                 "optimizer state (momentum, moments) between rounds: reset | carry")
      ->capture_default_str()->check(CLI::IsMember({"reset", "carry"}));
  app.add_option("--checkpoint-dir", t.checkpoint_dir, "write a checkpoint after rounds into this directory");
  app.add_option("--checkpoint-every", t.checkpoint_every, "rounds between checkpoints")->capture_default_str();
  app.add_option("--keep-checkpoints", t.keep_checkpoints, "keep the newest K checkpoints")->capture_default_str();
  app.add_flag("--resume", f.resume, "continue from the newest checkpoint in --checkpoint-dir (if there is one)");
  app.add_option("--resume-from", f.resume_from, "continue from this checkpoint file (or directory: its newest)");
  app.add_option("--on-worker-failure", f.on_failure, "abort | drop (leave a failed worker's update out)")
      ->capture_default_str()->check(CLI::IsMember({"abort", "drop"}));
  app.add_option("--after-failure", f.after_failure,
                 "drop: repartition the next rounds over the survivors | all workers")
      ->capture_default_str()->check(CLI::IsMember({"survivors", "all"}));
  app.add_option("--inject-failure", f.inject_failure, "W:R: worker W throws in its local steps of round R");
  app.add_option("--codec", t.codec,
                 "how slices travel between coordinator and workers: float32 | bf16 | fp16 | "
                 "topk:F[:no-ef][:f32-down][:warmup][:flush] (the top F of each worker's update in bf16, with error "
                 "feedback; values down as int8 blocks, or float32 with :f32-down; :warmup / :flush send every entry "
                 "in the first / last round; docs/codecs.md)")
      ->capture_default_str()
      ->check(CLI::Validator(
          [](std::string& s) {
            try {
              (void)codec::parse_codec(s, "--codec");
            } catch (const Error& e) {  // CLI11 names the option itself
              const std::string m = e.what(), prefix = "--codec: ";
              return m.rfind(prefix, 0) == 0 ? m.substr(prefix.size()) : m;
            }
            return std::string();
          },
          "CODEC"));
  app.add_option("--save-weights", f.save_weights,
                 "write the final global model to FILE as a safetensors state dict with PyTorch names "
                 "(docs/weights.md)");
  app.add_option("--init-weights", f.init_weights,
                 "start from the model in FILE (a safetensors state dict as --save-weights writes, or PyTorch's) "
                 "instead of the seed's initialization; a resumed checkpoint replaces it")
      ->check(CLI::ExistingFile);
  app.add_option("--shares", f.shares,
                 "the random cut's shares per worker: equal | speed (each sub-network sized to its worker's "
                 "measured speed) | steps (equal sub-networks, each worker's local steps sized to its speed); "
                 "SpeedProportional, docs/capacity.md")
      ->capture_default_str()->check(CLI::IsMember({"equal", "speed", "steps"}));
  app.add_option("--throttle", f.throttle,
                 "W:F: worker W's local steps take F >= 1 times as long (an experiment's slow worker; repeatable)");
  app.add_option("--pace-clock", f.pace_clock,
                 "how the pace history that --shares speed and steps read times a worker's local steps: wall | cpu (its "
                 "thread's CPU time times its --throttle factor: a core of its own, on a shared machine)")
      ->capture_default_str()->check(CLI::IsMember({"wall", "cpu"}));
  app.add_flag("--step-losses", t.metrics_step_losses,
               "the --metrics rows also hold train_loss_steps: per worker, the loss of each local step");
}

// Puts the flags into the config; throws on contradictions.
inline void apply(const RunFlags& f, TrainerConfig& t) {
  t.optimizer_state = f.optimizer_state == "carry" ? OptimizerState::Carry : OptimizerState::ResetEachRound;
  IST_CHECK(!f.resume || !t.checkpoint_dir.empty(), "--resume: needs --checkpoint-dir (where the checkpoints are)");
  IST_CHECK(!f.resume || f.resume_from.empty(), "--resume and --resume-from: give one of them, found both");
  t.on_worker_failure = f.on_failure == "drop" ? WorkerFailure::DropForRound : WorkerFailure::Abort;
  t.after_failure = f.after_failure == "all" ? AfterFailure::AllWorkers : AfterFailure::Survivors;
  IST_CHECK(!t.metrics_step_losses || !t.metrics_path.empty(), "--step-losses: needs --metrics (the file they go to)");
  t.pace_clock = f.pace_clock == "cpu" ? PaceClock::Cpu : PaceClock::Wall;
  t.throttle.clear();
  for (const std::string& text : f.throttle) {
    WorkerThrottle w;
    char extra = 0;
    IST_CHECK(std::sscanf(text.c_str(), "%d:%lf%c", &w.worker, &w.factor, &extra) == 2 && w.worker >= 0 &&
                  std::isfinite(w.factor) && w.factor >= 1.0,
              "--throttle: expected W:F with a worker id W >= 0 and a factor F >= 1, found '", text, "'");
    t.throttle.push_back(w);
  }
  if (!f.save_weights.empty()) {  // fail now rather than after training
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::absolute(f.save_weights, ec).parent_path();
    IST_CHECK(!ec && std::filesystem::is_directory(dir, ec), "--save-weights ", f.save_weights, ": the folder ",
              dir.string(), " does not exist");
  }
}

// --save-weights FILE: writes the trainer's global model (call it on the coordinator, after fit) as a
// safetensors state dict (ist::save_weights: PyTorch names, docs/weights.md). The metadata says how ist
// evaluates it: "ist.evaluation_scale" (the weights to multiply for the decomposer's evaluation scale with S
// workers) and "ist.normalization" (the input normalization), plus `metadata`.
template <class Net, class Trainer, class Decomposer>
void save_final_weights(const RunFlags& f, const Trainer& trainer, const Decomposer& decomposer, int workers,
                        std::map<std::string, std::string> metadata = {}) {
  if (f.save_weights.empty()) return;
  std::vector<double> scale(trainer.info().blocks.size(), 1.0);
  if constexpr (requires { decomposer.evaluation_scale(trainer.info(), workers); })
    scale = decomposer.evaluation_scale(trainer.info(), workers);
  metadata["ist.evaluation_scale"] = evaluation_scale_metadata<Net>(scale);
  const Normalization& n = trainer.config().normalization;
  auto shortest = [](const std::vector<float>& v) {  // 0.286f as 0.286, not 0.28600001335144043
    std::vector<double> out;
    for (const float x : v) {
      char buf[32];
      const auto end = std::to_chars(buf, buf + sizeof buf, x).ptr;
      out.push_back(std::strtod(std::string(buf, end).c_str(), nullptr));
    }
    return out;
  };
  if (!n.mean.empty())
    metadata["ist.normalization"] =
        detail::json_text(nlohmann::ordered_json{{"mean", shortest(n.mean)}, {"stddev", shortest(n.stddev)}});
  save_weights<Net>(f.save_weights, trainer.params(), std::move(metadata));
  std::printf("weights: %s (safetensors, PyTorch state-dict names: docs/weights.md)\n", f.save_weights.c_str());
  std::fflush(stdout);
}

// --init-weights FILE: the trainer's global model becomes the one in FILE (ist::load_weights: every tensor
// of Net, by its PyTorch name, with its shape; PyTorch's batch-norm buffers are ignored). Call it before
// fit(); a checkpoint that fit() resumes from replaces these weights.
template <class Net, class Trainer>
void load_initial_weights(const RunFlags& f, Trainer& trainer, bool verbose) {
  if (f.init_weights.empty()) return;
  const std::vector<float> w = load_weights<Net>(f.init_weights);  // checks every tensor and its shape
  // Into the global model, which the coordinator holds (params() is empty on the other MPI ranks).
  if (trainer.params().size() == w.size()) std::copy(w.begin(), w.end(), trainer.params().begin());
  if (verbose) {
    std::printf("initial weights: %s\n", f.init_weights.c_str());
    std::fflush(stdout);
  }
}

// --inject-failure W:R: worker W throws in its local steps of round R.
template <class Trainer>
void install_fault_injector(Trainer& trainer, const RunFlags& f, int workers) {
  if (f.inject_failure.empty()) return;
  int fail_worker = -1;
  unsigned long long fail_round = 0;
  char extra = 0;
  IST_CHECK(std::sscanf(f.inject_failure.c_str(), "%d:%llu%c", &fail_worker, &fail_round, &extra) == 2 &&
                fail_worker >= 0 && fail_worker < workers && fail_round >= 1,
            "--inject-failure: expected W:R with 0 <= W < S = ", workers, " and round R >= 1, found '",
            f.inject_failure, "'");
  const std::string what = f.inject_failure;
  trainer.set_fault_injector([=](int w, std::uint64_t round) {
    if (w == fail_worker && round + 1 == fail_round) throw Error("injected failure (--inject-failure " + what + ")");
  });
}

// The decomposer of a random-cut protocol: `random` (LayerwiseRandom, WidthwiseRandom), or, with --shares speed
// or steps, SpeedProportional, which cuts the same way with each worker's share, or its local steps, sized to
// its measured speed.
inline AnyDecomposer with_shares(const RunFlags& f, AnyDecomposer random) {
  if (f.shares == "speed") return SpeedProportional{};
  if (f.shares == "steps") return SpeedProportional(SpeedProportional::kTolerance, SpeedBudget::Steps);
  return random;
}

// The checkpoint to resume from ("" = start afresh); `root` prints what it chose.
inline std::string resume_point(const RunFlags& f, const TrainerConfig& t, bool root) {
  std::string from = f.resume_from;
  if (f.resume) {
    const auto latest = latest_checkpoint(t.checkpoint_dir);
    if (latest) from = *latest;
    else if (root) std::printf("resume: no checkpoint in %s yet, starting from round 1\n", t.checkpoint_dir.c_str());
  }
  if (root && !from.empty()) std::printf("resume: from %s\n", from.c_str());
  return from;
}

}  // namespace ist::examples
