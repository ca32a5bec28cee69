#pragma once
// AnyOptimizer<Context>: an optimizer policy (SgdConfig, AdamConfig, NovoGradConfig, a user's) bound to one
// compute context type, as the training engine holds it. The engine is compiled once; only the policy's
// own step code is instantiated per policy, and a program picks the policy at run time.
//
//   ist::optim::AnyOptimizer<ist::eigen::CpuContext> opt = ist::optim::NovoGradConfig{.lr = 0.01};
//   auto worker = opt.make(ctx, tensors);          // a WorkerOptimizer over the worker's compact buffer
//   worker->step(params, grads, lr);
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/optim/optimizer.hpp"

namespace ist::optim {

// One worker's optimizer as the engine uses it, whatever the policy (the Optimizer concept, on float).
template <class Context>
class WorkerOptimizer {
 public:
  using value_type = float;
  virtual ~WorkerOptimizer() = default;
  virtual std::size_t num_params() const = 0;
  virtual void step(std::span<float> params, std::span<const float> grads, double lr) = 0;
  virtual void reset_state() = 0;
  virtual std::size_t num_state_buffers() const = 0;
  virtual std::span<float> state_buffer(std::size_t i) = 0;
  virtual void load_state(std::span<const std::span<const float>> buffers, std::int64_t steps_done) = 0;
};

template <class Context>
class AnyOptimizer {
 public:
  template <class P>
    requires(!std::same_as<std::remove_cvref_t<P>, AnyOptimizer>)
  AnyOptimizer(P policy) {  // NOLINT: implicit on purpose, `AnyOptimizer<Ctx> o = SgdConfig{...};`
    static_assert(check_optimizer_policy<P>(), "ist::optim::AnyOptimizer: P is not an OptimizerPolicy");
    validate(policy, (std::string("ist::optim::AnyOptimizer: ") + std::string(P::name)).c_str());
    self_ = std::make_shared<Model<P>>(std::move(policy));
  }

  std::string_view name() const { return self_->name(); }
  double lr() const { return self_->lr(); }
  double weight_decay() const { return self_->weight_decay(); }
  std::vector<std::string> state_names() const { return self_->state_names(); }
  // The policy's hyperparameters as a JSON object.
  nlohmann::ordered_json hyperparameters() const { return self_->hyperparameters(); }
  // {"name": "<name>", then the hyperparameters}: what checkpoints store of the optimizer.
  nlohmann::ordered_json config_json() const {
    nlohmann::ordered_json j = {{"name", std::string(name())}};
    const nlohmann::ordered_json hyper = self_->hyperparameters();  // items() must not outlive it
    for (const auto& [key, value] : hyper.items()) j[key] = value;
    return j;
  }
  // The same policy with another weight decay (the engine applies a restricted decay itself).
  AnyOptimizer with_weight_decay(double wd) const { return AnyOptimizer(self_->with_weight_decay(wd)); }
  // A fresh optimizer for one worker's compact buffer, whose tensors lie at `tensors`.
  std::unique_ptr<WorkerOptimizer<Context>> make(Context& ctx, const TensorSegments& tensors) const {
    return self_->make(ctx, tensors);
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual std::string_view name() const = 0;
    virtual double lr() const = 0;
    virtual double weight_decay() const = 0;
    virtual std::vector<std::string> state_names() const = 0;
    virtual nlohmann::ordered_json hyperparameters() const = 0;
    virtual std::shared_ptr<const Concept> with_weight_decay(double) const = 0;
    virtual std::unique_ptr<WorkerOptimizer<Context>> make(Context&, const TensorSegments&) const = 0;
  };
  template <class P>
  struct Model final : Concept {
    using Impl = Implementation<P, Context>;
    using Opt = typename Impl::type;
    static_assert(Optimizer<Opt>, "ist::optim::Implementation<P, Context>::type must satisfy ist::optim::Optimizer");
    struct Worker final : WorkerOptimizer<Context> {
      explicit Worker(Opt o) : opt(std::move(o)) {}
      std::size_t num_params() const override { return opt.num_params(); }
      void step(std::span<float> p, std::span<const float> g, double lr) override { opt.step(p, g, lr); }
      void reset_state() override { opt.reset_state(); }
      std::size_t num_state_buffers() const override { return opt.num_state_buffers(); }
      std::span<float> state_buffer(std::size_t i) override { return opt.state_buffer(i); }
      void load_state(std::span<const std::span<const float>> b, std::int64_t steps) override {
        opt.load_state(b, steps);
      }
      Opt opt;
    };
    explicit Model(P p) : policy(std::move(p)) {}
    std::string_view name() const override { return P::name; }
    double lr() const override { return policy.lr; }
    double weight_decay() const override { return policy.weight_decay; }
    std::vector<std::string> state_names() const override { return policy.state_names(); }
    nlohmann::ordered_json hyperparameters() const override { return policy.hyperparameters(); }
    std::shared_ptr<const Concept> with_weight_decay(double wd) const override {
      P p = policy;
      p.weight_decay = wd;
      return std::make_shared<Model<P>>(std::move(p));
    }
    std::unique_ptr<WorkerOptimizer<Context>> make(Context& ctx, const TensorSegments& t) const override {
      return std::make_unique<Worker>(Impl::make(ctx, policy, t));
    }
    P policy;
  };
  explicit AnyOptimizer(std::shared_ptr<const Concept> s) : self_(std::move(s)) {}
  std::shared_ptr<const Concept> self_;
};

}  // namespace ist::optim
