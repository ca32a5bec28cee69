#pragma once
// Learning-rate schedules: small value types with `double at(double epoch) const`, where epoch >= 0 may
// be fractional (epoch = steps_done / steps_per_epoch), so the rate can change within an epoch.
//   ConstantSchedule{lr}                                 lr
//   StepSchedule{base_lr, milestones, gamma = 0.1}       base_lr * gamma^k, k = #milestones <= epoch
//                                                        (like torch.optim.lr_scheduler.MultiStepLR)
//   CosineSchedule{base_lr, total_epochs, min_lr = 0, warmup_epochs = 0}
//       epoch <  warmup_epochs:  base_lr * epoch / warmup_epochs          (linear ramp from 0)
//       otherwise:               min_lr + (base_lr - min_lr) * (1 + cos(pi * s)) / 2,
//                                s = min(1, (epoch - warmup_epochs) / (total_epochs - warmup_epochs))
// LrSchedule holds any of them; lr_at(schedule, epoch) evaluates it; parse_schedule builds one from a
// command-line spec: "constant", "step:0.5,0.75" (milestones as fractions of total_epochs) or "cosine".
// Each at() validates its fields and throws ist::Error for bad fields or a negative epoch.
#include <charconv>
#include <cmath>
#include <numbers>
#include <string>
#include <string_view>
#include <system_error>
#include <variant>
#include <vector>

#include "ist/core/error.hpp"

namespace ist::optim {

struct ConstantSchedule {
  double lr = 0.1;

  double at(double epoch) const {
    IST_CHECK(epoch >= 0.0, "ist::optim::ConstantSchedule::at: expected epoch >= 0, found ", epoch);
    IST_CHECK(std::isfinite(lr) && lr >= 0.0, "ist::optim::ConstantSchedule::at: expected lr >= 0, found ", lr);
    return lr;
  }
};

struct StepSchedule {
  double base_lr = 0.1;
  std::vector<double> milestones;  // in epochs, nondecreasing, >= 0; the rate drops at each one
  double gamma = 0.1;              // multiplicative drop per milestone, in (0, 1]

  double at(double epoch) const {
    IST_CHECK(epoch >= 0.0, "ist::optim::StepSchedule::at: expected epoch >= 0, found ", epoch);
    IST_CHECK(std::isfinite(base_lr) && base_lr >= 0.0,
              "ist::optim::StepSchedule::at: expected base_lr >= 0, found ", base_lr);
    IST_CHECK(gamma > 0.0 && gamma <= 1.0, "ist::optim::StepSchedule::at: expected gamma in (0, 1], found ",
              gamma);
    int passed = 0;
    for (std::size_t i = 0; i < milestones.size(); ++i) {
      IST_CHECK(milestones[i] >= 0.0 && (i == 0 || milestones[i] >= milestones[i - 1]),
                "ist::optim::StepSchedule::at: expected nondecreasing milestones >= 0, found milestone ", i,
                " = ", milestones[i]);
      if (milestones[i] <= epoch) ++passed;
    }
    return base_lr * std::pow(gamma, passed);
  }
};

struct CosineSchedule {
  double base_lr = 0.1;
  double total_epochs = 1.0;   // > 0; the rate reaches min_lr here and stays there
  double min_lr = 0.0;         // in [0, base_lr]
  double warmup_epochs = 0.0;  // in [0, total_epochs)

  double at(double epoch) const {
    IST_CHECK(epoch >= 0.0, "ist::optim::CosineSchedule::at: expected epoch >= 0, found ", epoch);
    IST_CHECK(std::isfinite(base_lr) && base_lr >= 0.0,
              "ist::optim::CosineSchedule::at: expected base_lr >= 0, found ", base_lr);
    IST_CHECK(std::isfinite(total_epochs) && total_epochs > 0.0,
              "ist::optim::CosineSchedule::at: expected total_epochs > 0, found ", total_epochs);
    IST_CHECK(min_lr >= 0.0 && min_lr <= base_lr, "ist::optim::CosineSchedule::at: expected min_lr in [0, ",
              base_lr, "] (base_lr), found ", min_lr);
    IST_CHECK(warmup_epochs >= 0.0 && warmup_epochs < total_epochs,
              "ist::optim::CosineSchedule::at: expected warmup_epochs in [0, ", total_epochs,
              ") (total_epochs), found ", warmup_epochs);
    if (epoch < warmup_epochs) return base_lr * epoch / warmup_epochs;
    double s = (epoch - warmup_epochs) / (total_epochs - warmup_epochs);
    if (s >= 1.0) return min_lr;
    return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * s));
  }
};

using LrSchedule = std::variant<ConstantSchedule, StepSchedule, CosineSchedule>;

// The learning rate of `schedule` at `epoch` (>= 0, may be fractional).
inline double lr_at(const LrSchedule& schedule, double epoch) {
  return std::visit([epoch](const auto& s) { return s.at(epoch); }, schedule);
}

namespace detail {
inline std::string_view trim(std::string_view s) {
  const char* ws = " \t\n\r";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

[[noreturn]] inline void bad_schedule_spec(std::string_view spec, std::string_view why) {
  fail("ist::optim::parse_schedule: expected \"constant\", \"cosine\" or \"step:F1,F2,...\" (milestones as "
       "nondecreasing fractions of the total epochs in [0, 1], e.g. \"step:0.5,0.75\"), found \"",
       spec, "\"", why.empty() ? "" : " (", why, why.empty() ? "" : ")");
}
}  // namespace detail

// Builds a schedule from a spec string:
//   "constant"          ConstantSchedule{base_lr}
//   "step:F1,F2,..."    StepSchedule{base_lr, {F1 * total_epochs, F2 * total_epochs, ...}, 0.1};
//                       "step:0.5,0.75" is ResIST's /10 at 50% and 75% of training
//   "cosine"            CosineSchedule{base_lr, total_epochs} (down to 0, no warmup)
// Surrounding whitespace is ignored. Throws ist::Error naming the spec and the accepted forms otherwise,
// and for base_lr < 0 or total_epochs <= 0.
inline LrSchedule parse_schedule(std::string_view spec, double base_lr, double total_epochs) {
  IST_CHECK(std::isfinite(base_lr) && base_lr >= 0.0, "ist::optim::parse_schedule: expected base_lr >= 0, found ",
            base_lr);
  IST_CHECK(std::isfinite(total_epochs) && total_epochs > 0.0,
            "ist::optim::parse_schedule: expected total_epochs > 0, found ", total_epochs);
  const std::string_view s = detail::trim(spec);
  if (s == "constant") return ConstantSchedule{base_lr};
  if (s == "cosine") return CosineSchedule{base_lr, total_epochs};
  constexpr std::string_view step_prefix = "step:";
  if (!s.starts_with(step_prefix)) detail::bad_schedule_spec(spec, "");

  StepSchedule out{base_lr, {}, 0.1};
  std::string_view rest = s.substr(step_prefix.size());
  double previous = 0.0;
  while (true) {
    const auto comma = rest.find(',');
    const std::string_view token = detail::trim(rest.substr(0, comma));
    if (token.empty()) detail::bad_schedule_spec(spec, "empty milestone");
    double f = 0.0;
    const auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), f);
    if (ec != std::errc() || ptr != token.data() + token.size()) {
      detail::bad_schedule_spec(spec, std::string("milestone \"").append(token).append("\" is not a number"));
    }
    if (!(f >= 0.0 && f <= 1.0)) {
      detail::bad_schedule_spec(spec, std::string("milestone ").append(token).append(" is outside [0, 1]"));
    }
    if (f < previous) {
      detail::bad_schedule_spec(spec, std::string("milestone ").append(token).append(" is below the one before"));
    }
    previous = f;
    out.milestones.push_back(f * total_epochs);
    if (comma == std::string_view::npos) break;
    rest = rest.substr(comma + 1);
  }
  return out;
}

}  // namespace ist::optim
