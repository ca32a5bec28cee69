#pragma once
// A live step counter for the training programs (ist-train, ist-mlp, gist-gcn), as tqdm-style tools show:
//
//   round 3/94  step 23/50  1.9 steps/s  round 12s left  run 21m05s left
//
// one carriage-return line on stdout, rewritten at most 4 times a second from the trainer's step-progress
// callback (IndependentSubnetTrainer::set_step_progress) and erased when the round ends, before the
// trainer prints the round's line. Only when stdout is a terminal: logs and pipes get the per-round lines
// exactly as before. It never touches training (the callback only reads the figures it is given).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "ist/train/step_progress.hpp"

namespace ist::examples {

// "12s", "21m05s", "3h07m"; "?" when unknown.
inline std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long s = std::lround(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
  else if (s < 3600) std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  else std::snprintf(buf, sizeof buf, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
  return buf;
}

// The live line for one progress report. With several workers in this process, the step and the rate are
// per worker (their mean), so that steps left / rate is the time left.
inline std::string live_progress_line(const StepProgress& p) {
  const int workers = p.local_steps > 0 ? std::max(1, p.steps_total / p.local_steps) : 1;
  const long step = std::lround(double(p.steps_done) / workers);
  const double rate = p.steps_per_second() / workers;
  char buf[160];
  if (p.rounds > 0)
    std::snprintf(buf, sizeof buf, "round %llu/%d  step %ld/%d  %.1f steps/s  round %s left  run %s left",
                  (unsigned long long)p.round, p.rounds, step, p.local_steps, rate,
                  format_duration(p.round_seconds_left()).c_str(), format_duration(p.run_seconds_left()).c_str());
  else
    std::snprintf(buf, sizeof buf, "round %llu  step %ld/%d  %.1f steps/s  round %s left", (unsigned long long)p.round,
                  step, p.local_steps, rate, format_duration(p.round_seconds_left()).c_str());
  return buf;
}

// Installs the live line on `trainer` when `show` (per-round progress is on and this process prints) and
// stdout is a terminal; otherwise does nothing.
template <class Trainer>
void install_live_progress(Trainer& trainer, bool show) {
  if (!show || !::isatty(::fileno(stdout))) return;
  struct State {
    std::chrono::steady_clock::time_point last{};
    bool showing = false;
  };
  auto state = std::make_shared<State>();
  trainer.set_step_progress([state](const StepProgress& p) {
    if (p.round_finished) {  // erase the line: the trainer prints the round's own line next
      if (state->showing) std::fputs("\r\033[K", stdout);
      std::fflush(stdout);
      state->showing = false;
      state->last = {};
      return;
    }
    const auto now = std::chrono::steady_clock::now();
    if (state->showing && now - state->last < std::chrono::milliseconds(250)) return;
    state->last = now;
    state->showing = true;
    std::fputs(("\r\033[K" + live_progress_line(p)).c_str(), stdout);
    std::fflush(stdout);
  });
}

}  // namespace ist::examples
