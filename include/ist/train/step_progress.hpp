#pragma once
// StepProgress: what the trainer tells a progress display while a round runs
// (IndependentSubnetTrainer::set_step_progress). The callback is called after every local step of every
// worker of this process, and once more when the round's steps, returns and merge are done
// (round_finished), so a live display (a step counter with steps/s and the time left, as tqdm shows) can
// be drawn and erased before the round's summary line.
#include <cmath>
#include <cstdint>

namespace ist {

struct StepProgress {
  std::uint64_t round = 0;        // this round, 1-based (as RoundRecord::round)
  int rounds = 0;                 // the last round of this fit(); 0 when train_round() is driven by hand
  std::uint64_t first_round = 0;  // rounds done before this fit() began (a resumed run: the checkpoint's)
  int worker = -1;                // the worker that finished a step (-1 in the round_finished call)
  int worker_steps = 0;           // that worker's steps finished this round, 1..local_steps
  int local_steps = 0;            // L
  int steps_done = 0;             // steps finished this round by all of this process's workers
  int steps_total = 0;            // steps this process's workers run this round: L for each in the plan
  double round_seconds = 0;       // since this round began
  double run_seconds = 0;         // since this fit() began (round_seconds when driven by hand)
  bool round_finished = false;    // the round's last call: its local steps, returns and merge are done

  // This process's local steps per second in this round (0 before the first step).
  double steps_per_second() const { return round_seconds > 0 ? steps_done / round_seconds : 0.0; }
  // The rest of this round's local steps at this round's rate (NaN before the first step).
  double round_seconds_left() const {
    if (steps_done >= steps_total) return 0.0;
    const double rate = steps_per_second();
    return rate > 0 ? (steps_total - steps_done) / rate : NAN;
  }
  // The rest of this round plus the rounds after it, each taking the mean time of this fit()'s finished
  // rounds (evaluation included), or before one has finished this round's estimated length. NaN when the
  // number of rounds is unknown (rounds == 0) or nothing has been measured yet.
  double run_seconds_left() const {
    if (rounds <= 0) return NAN;
    const double left_now = round_seconds_left();
    const double finished = double(round) - 1.0 - double(first_round);
    const double per_round = finished > 0 ? (run_seconds - round_seconds) / finished : round_seconds + left_now;
    const double after = double(rounds) - double(round);
    return left_now + (after > 0 ? after * per_round : 0.0);
  }
};

}  // namespace ist
