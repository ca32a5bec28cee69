#pragma once
// AnyDecomposer: a Decomposer chosen at run time (for example from a command-line flag), wrapping any
// type that satisfies the concept. Costs one indirect call per round.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ist/decompose/decomposer.hpp"

namespace ist {

class AnyDecomposer {
 public:
  template <Decomposer D>
  AnyDecomposer(D d)  // NOLINT(google-explicit-constructor): wrapping is the point
      : impl_(std::make_shared<Model<D>>(std::move(d))) {}

  Plan plan(const ModelInfo& info, const RoundContext& ctx) const { return impl_->plan(info, ctx); }
  PlanRules rules() const { return impl_->rules(); }
  std::string_view name() const { return impl_->name(); }
  // The wrapped policy's evaluation scale, or 1 for every block when it has none.
  std::vector<double> evaluation_scale(const ModelInfo& info, int workers) const {
    return impl_->evaluation_scale(info, workers);
  }

 private:
  struct Concept {
    virtual ~Concept() = default;
    virtual Plan plan(const ModelInfo&, const RoundContext&) const = 0;
    virtual PlanRules rules() const = 0;
    virtual std::string_view name() const = 0;
    virtual std::vector<double> evaluation_scale(const ModelInfo&, int) const = 0;
  };
  template <class D>
  struct Model final : Concept {
    explicit Model(D d) : d_(std::move(d)) {}
    Plan plan(const ModelInfo& info, const RoundContext& ctx) const override { return d_.plan(info, ctx); }
    PlanRules rules() const override { return d_.rules(); }
    std::string_view name() const override { return d_.name(); }
    std::vector<double> evaluation_scale(const ModelInfo& info, int workers) const override {
      if constexpr (HasEvaluationScale<D>)
        return d_.evaluation_scale(info, workers);
      else
        return std::vector<double>(info.blocks.size(), 1.0);
    }
    D d_;
  };
  std::shared_ptr<const Concept> impl_;
};

static_assert(Decomposer<AnyDecomposer> && HasEvaluationScale<AnyDecomposer>);

}  // namespace ist
