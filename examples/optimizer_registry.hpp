#pragma once
// The optimizers the programs offer (--optimizer NAME) and the flags that tune them. Each optimizer policy
// is one line of `Optimizers`; ist-train, ist-mlp and gist-gcn all read this list. A CUDA program also
// includes each policy's CUDA implementation (ist/backend/cuda/<name>.cuh).
#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/optim/adam.hpp"
#include "ist/optim/any_optimizer.hpp"
#include "ist/optim/novograd.hpp"
#include "ist/optim/sgd.hpp"

namespace ist::examples {

using Optimizers = std::tuple<optim::SgdConfig,       //
                              optim::AdamConfig,      //
                              optim::NovoGradConfig>;

// What the flags say. A program sets its defaults before add_optimizer_flags; beta1, beta2 and eps keep the
// chosen optimizer's own defaults unless given.
struct OptimizerOptions {
  std::string name = "sgd";
  double lr = 0.1;
  double weight_decay = 0.0;
  double momentum = 0.0;  // sgd
  bool nesterov = false;  // sgd
  std::optional<double> beta1, beta2, eps;  // adam, novograd
};

inline std::vector<std::string> optimizer_names() {
  return std::apply([](auto... c) { return std::vector<std::string>{std::string(decltype(c)::name)...}; },
                    Optimizers{});
}

inline void add_optimizer_flags(CLI::App& app, OptimizerOptions& o) {
  std::string names;
  for (const auto& n : optimizer_names()) names += (names.empty() ? "" : " | ") + n;
  app.add_option("--optimizer", o.name, "optimizer: " + names)->capture_default_str()
      ->check(CLI::IsMember(optimizer_names()));
  app.add_option("--lr", o.lr, "base learning rate")->capture_default_str();
  app.add_option("--wd", o.weight_decay, "weight decay (sgd, adam: L2 added to the gradient, as PyTorch; novograd: "
                 "decoupled, added to the update)")->capture_default_str();
  app.add_option("--momentum", o.momentum, "sgd: momentum")->capture_default_str();
  app.add_flag("--nesterov", o.nesterov, "sgd: Nesterov momentum");
  app.add_option("--beta1", o.beta1, "adam, novograd: first-moment decay (default: the optimizer's, 0.9 / 0.95)");
  app.add_option("--beta2", o.beta2, "adam, novograd: second-moment decay (default: 0.999 / 0.98)");
  app.add_option("--eps", o.eps, "adam, novograd: epsilon (default 1e-8)");
}

// The policy the options name, for a trainer whose compute context is Context.
template <class Context>
optim::AnyOptimizer<Context> make_optimizer(const OptimizerOptions& o) {
  std::optional<optim::AnyOptimizer<Context>> out;
  std::apply(
      [&](auto... configs) {
        auto pick = [&](auto c) {
          if (out || o.name != decltype(c)::name) return;
          c.lr = o.lr;
          c.weight_decay = o.weight_decay;
          if constexpr (requires { c.momentum; c.nesterov; }) {
            c.momentum = o.momentum;
            c.nesterov = o.nesterov;
          }
          if constexpr (requires { c.beta1; c.beta2; c.eps; }) {
            if (o.beta1) c.beta1 = *o.beta1;
            if (o.beta2) c.beta2 = *o.beta2;
            if (o.eps) c.eps = *o.eps;
          }
          out.emplace(c);
        };
        (pick(configs), ...);
      },
      Optimizers{});
  IST_CHECK(out.has_value(), "--optimizer: unknown optimizer \"", o.name, "\"");
  return *out;
}

// One line for the run's header: "novograd lr 0.01 beta1 0.95 ...".
template <class Context>
std::string describe(const optim::AnyOptimizer<Context>& opt) {
  std::string out(opt.name());
  const nlohmann::ordered_json hyper = opt.hyperparameters();  // items() must not outlive it
  for (const auto& [key, value] : hyper.items())
    out += " " + key + " " + (value.is_string() ? value.template get<std::string>() : value.dump());
  return out;
}

}  // namespace ist::examples
