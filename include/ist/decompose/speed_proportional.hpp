#pragma once
// SpeedProportional: capacity-aware shares. The random cuts of LayerwiseRandom (depth, ResIST) and
// WidthwiseRandom (width, IST and GIST), with each worker's share sized to its measured speed, so that a slow
// worker no longer holds up the round:
//   depth: the decomposable blocks, shuffled as LayerwiseRandom shuffles them, are dealt by counts that a
//          greedy sets: each next block goes to the worker that would finish first with it, a worker's time
//          being (the parameters it holds) x (its pace). Every block still has exactly one owner.
//   width: the units of each width layer, shuffled as WidthwiseRandom shuffles them, dealt by fractions that
//          equalize the workers' estimated times, (its sub-network's parameters) / (its speed). A fraction f of
//          every layer's units holds c + b f + a f^2 parameters: a hidden-to-hidden weight, split both ways,
//          grows with f^2, so a fast worker's share grows less than its speed. Units per layer follow the
//          fractions (largest remainders; at least one unit each).
// That is SpeedBudget::Shares. With SpeedBudget::Steps the sub-networks stay the random cut's (equal shares)
// and each worker's local steps follow its speed instead: round(L x speed / the fastest's speed), at least 1
// (SubnetSpec::local_steps), so that every worker's round takes about the fastest's time. Shares cannot do
// that where every worker trains a large shared part (ResIST: stem, head and the stages that are not
// partitioned), which a slow worker's share never sheds; steps can, at the price of fewer updates from it.
// A worker's speed is 1 / its mean pace over RoundContext::pace_history (seconds per local step and per
// parameter of its sub-network, as the trainer measures it). Until every worker of the round has been
// measured, and while the slowest is within `tolerance` of the fastest (timing noise: 0.25 = 25 % slower), the
// shares are equal and the plan is exactly LayerwiseRandom's and WidthwiseRandom's for the same
// (seed, round, S).
//
// The plan then depends on measured time: every process computes the same one (the trainer shares the history
// by a sum over processes and keeps it in checkpoints), but two runs differ unless the timings are injected
// (IndependentSubnetTrainer::set_compute_timer). Evaluation scales as the random policies do (1/S).
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <string_view>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/model_info.hpp"

namespace ist {

// Per plan slot of this round: 1 / the mean of the worker's measured paces over ctx.pace_history, or 0 where
// none was measured (rows of another width than ctx.workers are ignored).
inline std::vector<double> measured_speeds(const RoundContext& ctx) {
  std::vector<double> speed(std::size_t(ctx.workers), 0.0);
  for (std::size_t w = 0; w < speed.size(); ++w) {
    double sum = 0;
    int n = 0;
    for (const std::vector<float>& row : ctx.pace_history)
      if (row.size() == speed.size() && row[w] > 0) {
        sum += double(row[w]);
        ++n;
      }
    if (n > 0) speed[w] = double(n) / sum;
  }
  return speed;
}

// n items in proportion to `weights` (all > 0): floors, at least `at_least` each, the rest to the largest
// remainders (ties to the lower index). Equal weights give equal_shares(n, s).
inline std::vector<int> proportional_shares(int n, const std::vector<double>& weights, int at_least = 0) {
  const int s = int(weights.size());
  IST_CHECK(s >= 1 && n >= s * at_least, "ist::proportional_shares: cannot give ", s, " workers at least ", at_least,
            " of ", n, " items each");
  double total = 0;
  for (double v : weights) total += v;
  std::vector<int> counts(static_cast<std::size_t>(s));
  std::vector<double> rest(static_cast<std::size_t>(s));
  int given = 0;
  for (std::size_t w = 0; w < counts.size(); ++w) {
    const double exact = double(n) * weights[w] / total;
    counts[w] = std::max(at_least, int(std::floor(exact)));
    rest[w] = exact - counts[w];
    given += counts[w];
  }
  while (given > n) {  // the minimum pushed the sum over: take from the largest share above it
    std::size_t big = 0;
    for (std::size_t w = 1; w < counts.size(); ++w)
      if (counts[w] > counts[big]) big = w;
    --counts[big];
    --given;
  }
  while (given < n) {
    std::size_t best = 0;
    for (std::size_t w = 1; w < counts.size(); ++w)
      if (rest[w] > rest[best]) best = w;
    ++counts[best];
    rest[best] -= 1.0;
    ++given;
  }
  return counts;
}

// What SpeedProportional sizes to each worker's speed: its sub-network (Shares) or its local steps (Steps).
enum class SpeedBudget { Shares, Steps };

class SpeedProportional {
 public:
  // Timing noise the speeds may differ by and still count as equal: 0.25 = the slowest 25 % slower.
  static constexpr double kTolerance = 0.25;

  explicit SpeedProportional(double tolerance = kTolerance, SpeedBudget budget = SpeedBudget::Shares)
      : tolerance_(tolerance), budget_(budget) {
    IST_CHECK(std::isfinite(tolerance) && tolerance >= 0, "ist::SpeedProportional: expected a tolerance >= 0, found ",
              tolerance);
  }

  Plan plan(const ModelInfo& info, const RoundContext& ctx) const {
    IST_CHECK(ctx.workers >= 1, "ist::SpeedProportional::plan: expected at least 1 worker, found ", ctx.workers);
    const std::vector<double> speed = measured_speeds(ctx);
    if (!uneven(speed)) return equal_plan(info, ctx);
    if (budget_ == SpeedBudget::Steps) {
      IST_CHECK(ctx.local_steps >= 1, "ist::SpeedProportional::plan: SpeedBudget::Steps sizes local steps, but "
                "RoundContext::local_steps (L) is ", ctx.local_steps, "; expected L >= 1");
      Plan p = equal_plan(info, ctx);
      const double fastest = *std::max_element(speed.begin(), speed.end());
      for (std::size_t w = 0; w < speed.size(); ++w)
        p.workers[w].local_steps =
            std::clamp(int(std::lround(double(ctx.local_steps) * speed[w] / fastest)), 1, ctx.local_steps);
      return p;
    }
    const std::vector<double> fractions = width_fractions(info, speed);
    return deal(info, ctx, block_counts(info, speed), [&](int units) { return proportional_shares(units, fractions, 1); });
  }

  PlanRules rules() const { return {true, true}; }
  std::string_view name() const { return budget_ == SpeedBudget::Steps ? "speed-proportional-steps" : "speed-proportional"; }
  double tolerance() const noexcept { return tolerance_; }
  SpeedBudget budget() const noexcept { return budget_; }

  // Whether this round's shares follow the speeds: every worker measured, and the slowest more than
  // `tolerance` slower than the fastest.
  bool shares_by_speed(const RoundContext& ctx) const { return uneven(measured_speeds(ctx)); }

  // As LayerwiseRandom and WidthwiseRandom evaluate (each model family has only one kind of cut, so the
  // other's scales are all 1).
  std::vector<double> evaluation_scale(const ModelInfo& info, int workers) const {
    std::vector<double> scale = LayerwiseRandom{}.evaluation_scale(info, workers);
    const std::vector<double> width = WidthwiseRandom{}.evaluation_scale(info, workers);
    for (std::size_t b = 0; b < scale.size(); ++b) scale[b] *= width[b];
    return scale;
  }

 private:
  // The random cuts with these counts: the decomposable blocks shuffled as LayerwiseRandom shuffles them and
  // dealt `blocks[w]` to slot w, each width layer's units as WidthwiseRandom deals them, unit_counts(units)
  // per slot.
  template <class UnitCounts>
  static Plan deal(const ModelInfo& info, const RoundContext& ctx, const std::vector<int>& blocks,
                   UnitCounts unit_counts) {
    Rng rng = LayerwiseRandom::block_order(ctx);
    Plan p = LayerwiseRandom::deal_blocks(info, ctx, blocks, rng);
    if (ctx.workers == 1) return p;
    for (std::size_t l = 0; l < info.width_layers.size(); ++l) {
      WidthwiseRandom::check_splittable(info, l, ctx.workers, "ist::SpeedProportional::plan");
      WidthwiseRandom::deal_units(p, info, ctx, l, unit_counts(info.width_layers[l].units));
    }
    return p;
  }

  // The random cut's plan: LayerwiseRandom's blocks and WidthwiseRandom's units in equal shares.
  static Plan equal_plan(const ModelInfo& info, const RoundContext& ctx) {
    return deal(info, ctx, equal_shares(int(info.decomposable_blocks().size()), ctx.workers),
                [&](int units) { return equal_shares(units, ctx.workers); });
  }

  // Every speed measured, and the slowest more than `tolerance` slower than the fastest.
  bool uneven(const std::vector<double>& speed) const {
    const auto [lo, hi] = std::minmax_element(speed.begin(), speed.end());
    return *lo > 0 && *hi > *lo * (1.0 + tolerance_);
  }

  // Decomposable blocks per worker: a greedy over blocks of the mean decomposable size, each to the worker
  // whose estimated time (shared + held parameters) / speed would be the smallest with it (ties: lower slot).
  static std::vector<int> block_counts(const ModelInfo& info, const std::vector<double>& speed) {
    const std::vector<int> ids = info.decomposable_blocks();
    std::vector<int> counts(speed.size(), 0);
    if (ids.empty()) return counts;
    const double block = double(info.decomposable_params()) / double(ids.size());
    const double shared = double(info.num_params - info.decomposable_params());
    for (std::size_t k = 0; k < ids.size(); ++k) {
      std::size_t best = 0;
      double best_time = 0;
      for (std::size_t w = 0; w < speed.size(); ++w) {
        const double t = (shared + block * (counts[w] + 1)) / speed[w];
        if (w == 0 || t < best_time) {
          best = w;
          best_time = t;
        }
      }
      ++counts[best];
    }
    return counts;
  }

  // Each worker's fraction of every width layer's units, such that (its parameters) / (its speed) is the same
  // for all: the parameters of fraction f are c + b f + a f^2 (weights split by rows and columns: a; split
  // one way, and per-unit vectors of split layers: b; the rest: c), solved for f at a common time T, and T
  // bisected until the fractions sum to 1. Without output_of in the model's width layers the model is
  // linear in f, and the fractions are proportional to speed.
  static std::vector<double> width_fractions(const ModelInfo& info, const std::vector<double>& speed) {
    double a = 0, b = 0, c = 0;
    for (const TensorInfo& t : info.tensors) {
      bool rows = false, cols = false;
      for (const WidthLayerInfo& layer : info.width_layers) {
        rows = rows || layer.output_of == t.block;
        cols = cols || layer.input_of == t.block;
      }
      const int split = int(rows) + (t.role == TensorRole::LinearWeight ? int(cols) : 0);
      (split == 2 ? a : split == 1 ? b : c) += double(t.size);
    }
    const auto fraction = [&](double time, double v) {  // f with (c + b f + a f^2) / v = time
      const double rhs = time * v - c;
      if (rhs <= 0) return 0.0;
      if (a == 0) return b > 0 ? rhs / b : 1.0;
      return (-b + std::sqrt(b * b + 4 * a * rhs)) / (2 * a);
    };
    const auto total = [&](double time) {
      double sum = 0;
      for (double v : speed) sum += fraction(time, v);
      return sum;
    };
    double lo = 0, hi = (a + b + c) / *std::min_element(speed.begin(), speed.end());  // every fraction >= 1
    for (int k = 0; k < 200 && hi - lo > 1e-15 * hi; ++k) {
      const double mid = 0.5 * (lo + hi);
      (total(mid) < 1.0 ? lo : hi) = mid;
    }
    std::vector<double> f;
    for (double v : speed) f.push_back(fraction(hi, v));
    return f;
  }

  double tolerance_;
  SpeedBudget budget_;
};

}  // namespace ist
