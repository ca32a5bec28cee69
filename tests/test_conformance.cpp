// Conformance suites: every shipped implementation of a policy concept runs the same contract tests. A new
// optimizer, decomposer or communicator gets them by adding one line to its suite's TEST_CASE_TEMPLATE_INVOKE
// (the MPI communicator runs the communicator suite in tests/mpi/test_mpi_comm.cpp).
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ist/backend/eigen/cpu_context.hpp"
#include "ist/comm/any_comm.hpp"
#include "ist/comm/in_process_comm.hpp"
#include "ist/core/error.hpp"
#include "ist/core/rng.hpp"
#include "ist/decompose/any_decomposer.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/decompose/replicate.hpp"
#include "ist/decompose/speed_proportional.hpp"
#include "ist/decompose/widthwise_random.hpp"
#include "ist/model/presets.hpp"
#include "ist/optim/adam.hpp"
#include "ist/optim/any_optimizer.hpp"
#include "ist/optim/novograd.hpp"
#include "ist/optim/sgd.hpp"
#include "ist/train/gcn_traits.hpp"
#include "ist/train/mlp_traits.hpp"
#include "ist/train/model_traits.hpp"
#include "communicator_conformance.hpp"

namespace test_conformance {

using namespace ist;

// ---- optimizers ---------------------------------------------------------------------------------------
namespace {

// The policy each suite runs: its defaults, except where a default has no state to test (SGD without
// momentum). A new optimizer needs nothing here.
template <class P>
P conformance_policy() {
  return P{};
}
template <>
optim::SgdConfig conformance_policy<optim::SgdConfig>() {
  return optim::SgdConfig{0.1, 0.9, 1e-3, true};
}

using Opt = optim::AnyOptimizer<eigen::CpuContext>;
const optim::TensorSegments kTensors = {{0, 5}, {5, 17}, {22, 9}};  // three tensors, 31 values

std::vector<float> random_values(std::size_t n, std::uint64_t seed, double scale) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(scale * rng.normal());
  return v;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

TEST_CASE_TEMPLATE_DEFINE("optimizer conformance", P, optimizer_conformance) {
  static_assert(optim::check_optimizer_policy<P>());
  const P policy = conformance_policy<P>();
  const Opt opt(policy);
  eigen::CpuContext ctx;
  auto a = opt.make(ctx, kTensors);
  auto b = opt.make(ctx, kTensors);
  const std::size_t n = 31;

  SUBCASE("the policy describes itself: name, state buffers, hyperparameters") {
    CHECK(!opt.name().empty());
    CHECK(opt.hyperparameters().is_object());
    CHECK(opt.hyperparameters().at("lr") == policy.lr);
    CHECK(opt.config_json().at("name") == std::string(P::name));
    CHECK(opt.config_json().at("lr") == policy.lr);
    CHECK(a->num_params() == n);
    CHECK(a->num_state_buffers() == opt.state_names().size());
    for (std::size_t i = 0; i < a->num_state_buffers(); ++i) CHECK(a->state_buffer(i).size() == n);
  }
  SUBCASE("steps are deterministic, and lr = 0 leaves the parameters as they are") {
    std::vector<float> pa = random_values(n, 1, 1.0), pb = pa;
    const std::vector<float> p0 = pa;
    for (int s = 0; s < 3; ++s) {
      const std::vector<float> g = random_values(n, 10 + s, 0.1);
      a->step(pa, g, 0.05);
      b->step(pb, g, 0.05);
    }
    CHECK(same_bits(pa, pb));
    CHECK_FALSE(same_bits(pa, p0));
    auto c = opt.make(ctx, kTensors);
    std::vector<float> pc = p0;
    c->step(pc, random_values(n, 3, 0.1), 0.0);
    CHECK(same_bits(pc, p0));
  }
  SUBCASE("reset_state makes the next step a first step") {
    std::vector<float> pa = random_values(n, 2, 1.0);
    a->step(pa, random_values(n, 4, 0.1), 0.05);
    a->reset_state();
    std::vector<float> pb = pa;
    const std::vector<float> g = random_values(n, 5, 0.1);
    a->step(pa, g, 0.05);
    b->step(pb, g, 0.05);
    CHECK(same_bits(pa, pb));
  }
  SUBCASE("load_state installs the given buffers") {
    std::vector<std::vector<float>> values;
    std::vector<std::span<const float>> spans;
    for (std::size_t i = 0; i < a->num_state_buffers(); ++i) values.push_back(random_values(n, 20 + i, 0.01));
    for (auto& v : values) {
      for (auto& x : v) x = std::abs(x);  // second moments are non-negative
      spans.emplace_back(v);
    }
    a->load_state(spans, 7);
    for (std::size_t i = 0; i < a->num_state_buffers(); ++i) CHECK(same_bits(a->state_buffer(i), values[i]));
    const std::vector<float> any(n, 0.f);
    const std::vector<std::span<const float>> too_many(a->num_state_buffers() + 1, std::span<const float>(any));
    CHECK_THROWS_AS(a->load_state(too_many, 7), Error);
  }
  SUBCASE("wrong sizes are errors, not memory corruption") {
    std::vector<float> p(n - 1, 0.f), g(n, 0.f);
    CHECK_THROWS_AS(a->step(p, g, 0.1), Error);
    std::vector<float> p2(n, 0.f), g2(n + 1, 0.f);
    CHECK_THROWS_AS(a->step(p2, g2, 0.1), Error);
  }
  SUBCASE("it descends: 30 steps on f(p) = |p|^2 / 2 lower f") {
    std::vector<float> p = random_values(n, 9, 1.0);
    auto f = [&] {
      double s = 0;
      for (float x : p) s += 0.5 * double(x) * double(x);
      return s;
    };
    const double f0 = f();
    for (int s = 0; s < 30; ++s) {
      const std::vector<float> g = p;  // the gradient of |p|^2 / 2
      a->step(p, g, opt.lr());
    }
    CHECK(f() < f0);
  }
}
TEST_CASE_TEMPLATE_INVOKE(optimizer_conformance, optim::SgdConfig, optim::AdamConfig, optim::NovoGradConfig);

// ---- decomposers --------------------------------------------------------------------------------------
namespace {
using ResNetModel = ResNet<Stem<1, 4>, Stage<4, 4, 1, 1>, Stage<4, 8, 6, 2, Partitioned>, Head<8, 3>>;
using MlpModel = Mlp<Input<12>, Dense<10>, Dense<9>, Dense<3>>;
using GcnModel = Gcn<Input<12>, GraphConv<10>, GraphConv<3>>;

// A decomposer and a model family it cuts.
template <class D, class M>
struct Cut {
  using Decomposer = D;
  using Model = M;
};
}  // namespace

TEST_CASE_TEMPLATE_DEFINE("decomposer conformance", C, decomposer_conformance) {
  using D = typename C::Decomposer;
  using Traits = ModelTraits<typename C::Model>;
  static_assert(check_decomposer<D>());
  const D d{};
  const ModelInfo info = Traits::info();
  CHECK(!std::string(d.name()).empty());
  for (int S : {1, 2, 3}) {
    CAPTURE(S);
    for (std::uint64_t round : {0, 1, 7}) {
      const Plan p = d.plan(info, RoundContext{11, round, S});
      CHECK(p.num_workers() == S);
      CHECK_NOTHROW(validate_plan(p, info, S, d.rules()));
      // A pure function of (info, seed, round, S): every rank computes the same plan without messages.
      const Plan again = d.plan(info, RoundContext{11, round, S});
      for (int w = 0; w < S; ++w) {
        CHECK(again.workers[std::size_t(w)].active_blocks == p.workers[std::size_t(w)].active_blocks);
        CHECK(again.workers[std::size_t(w)].kept_units == p.workers[std::size_t(w)].kept_units);
        // Each worker's slices and compact layout agree (the engine's invariant).
        CHECK(Traits::slices(p.workers[std::size_t(w)]).size() == Traits::layout(p.workers[std::size_t(w)]).size());
      }
    }
    if constexpr (HasEvaluationScale<D>) CHECK(d.evaluation_scale(info, S).size() == info.blocks.size());
  }
}
TEST_CASE_TEMPLATE_INVOKE(decomposer_conformance, Cut<LayerwiseRandom, ResNetModel>, Cut<Replicate, ResNetModel>,
                          Cut<WidthwiseRandom, MlpModel>, Cut<WidthwiseRandom, GcnModel>, Cut<Replicate, GcnModel>,
                          Cut<SpeedProportional, ResNetModel>, Cut<SpeedProportional, MlpModel>,
                          Cut<SpeedProportional, GcnModel>);

// ---- communicators ------------------------------------------------------------------------------------
namespace {
struct InProcessConcurrent {
  static InProcessComm make() { return InProcessComm(3, true); }
};
struct InProcessSequential {
  static InProcessComm make() { return InProcessComm(3, false); }
};
struct Archetype {
  static archetypes::CommunicatorArchetype make() { return {}; }
};
struct AnyInProcess {
  static AnyComm make() { return InProcessComm(3, true); }
};
}  // namespace

// Every worker is local here; tests/mpi/test_mpi_comm.cpp runs the same contract across ranks (MpiComm).
TEST_CASE_TEMPLATE_DEFINE("communicator conformance", F, communicator_conformance) {
  auto comm = F::make();
  conformance::check_communicator_contract(comm);
}
TEST_CASE_TEMPLATE_INVOKE(communicator_conformance, InProcessConcurrent, InProcessSequential, Archetype, AnyInProcess);

}  // namespace test_conformance
