// Tests for ist/optim: Sgd, Adam (known values by hand and from PyTorch), state handling, errors, and
// the learning-rate schedules with parse_schedule.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <span>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/optim/adam.hpp"
#include "ist/optim/optimizer.hpp"
#include "ist/optim/schedule.hpp"
#include "ist/optim/sgd.hpp"

namespace test_optim {

namespace {

using ist::optim::Adam;
using ist::optim::AdamConfig;
using ist::optim::Sgd;
using ist::optim::SgdConfig;

// Relative-or-absolute tolerance suited to T: float results are compared with the float64 references.
template <class T>
constexpr double tol() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-13;
}

template <class T>
void check_close(std::span<const T> got, const std::vector<double>& want, double tolerance) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i << ": got " << static_cast<double>(got[i]) << ", want " << want[i]);
    CHECK(std::abs(static_cast<double>(got[i]) - want[i]) <= tolerance * std::max(1.0, std::abs(want[i])));
  }
}

template <class T>
std::vector<T> to(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

// Runs `message`-checking: f must throw ist::Error whose message contains every piece.
template <class F>
void check_error(F&& f, std::initializer_list<std::string> pieces) {
  try {
    f();
    FAIL("expected ist::Error");
  } catch (const ist::Error& e) {
    const std::string what = e.what();
    for (const auto& piece : pieces) {
      INFO("message: " << what << "\nmissing: " << piece);
      CHECK(what.find(piece) != std::string::npos);
    }
  }
}

// The shared trajectory of the PyTorch reference runs below: 4 parameters, 3 steps with these
// gradients and learning rates (lr set in the param group before each step).
const std::vector<double> kP0 = {1.0, -2.0, 0.5, 3.0};
const std::vector<std::vector<double>> kGrads = {
    {0.5, -1.0, 0.25, 2.0}, {0.1, 0.3, -0.2, -1.5}, {-0.4, 0.2, 0.6, 0.7}};
const std::vector<double> kLrs = {0.1, 0.05, 0.02};

// Steps `opt` along the reference trajectory and checks params after every step against `want`.
template <class T, class Opt>
void run_reference(Opt& opt, const std::vector<std::vector<double>>& want) {
  std::vector<T> p = to<T>(kP0);
  for (std::size_t s = 0; s < kGrads.size(); ++s) {
    const std::vector<T> g = to<T>(kGrads[s]);
    opt.step(std::span<T>(p), std::span<const T>(g), kLrs[s]);
    INFO("step " << s + 1);
    check_close<T>(p, want[s], tol<T>());
  }
}

}  // namespace

// ---- Sgd: hand-computed -------------------------------------------------------------------------

TEST_CASE_TEMPLATE("optim: Sgd plain steps, hand-computed", T, float, double) {
  Sgd<T> sgd(SgdConfig{}, 2);
  CHECK_FALSE(sgd.has_state());
  CHECK(sgd.num_state_buffers() == 0);
  CHECK(sgd.momentum_buffer().empty());
  std::vector<T> p = {T(1), T(-2)};
  std::vector<T> g = {T(0.5), T(-1)};
  sgd.step(std::span<T>(p), std::span<const T>(g), 0.1);  // p - 0.1 * g
  check_close<T>(p, {0.95, -1.9}, tol<T>());
  g = {T(0.1), T(0.3)};
  sgd.step(std::span<T>(p), std::span<const T>(g), 0.05);  // 0.95 - 0.005, -1.9 - 0.015
  check_close<T>(p, {0.945, -1.915}, tol<T>());
  // step(params, grads) uses config().lr = 0.1: 0.945 - 0.01, -1.915 - 0.03
  sgd.step(std::span<T>(p), std::span<const T>(g));
  check_close<T>(p, {0.935, -1.945}, tol<T>());
}

TEST_CASE_TEMPLATE("optim: Sgd momentum steps, hand-computed", T, float, double) {
  Sgd<T> sgd(SgdConfig{.momentum = 0.9}, 1);
  CHECK(sgd.has_state());
  CHECK(sgd.num_state_buffers() == 1);
  std::vector<T> p = {T(1)};
  std::vector<T> g = {T(0.5)};
  CHECK_FALSE(sgd.momentum_initialized());
  sgd.step(std::span<T>(p), std::span<const T>(g), 0.1);  // buf = g = 0.5 (first step), p = 1 - 0.05
  CHECK(sgd.momentum_initialized());
  check_close<T>(sgd.momentum_buffer(), {0.5}, tol<T>());
  check_close<T>(p, {0.95}, tol<T>());
  g = {T(0.1)};
  sgd.step(std::span<T>(p), std::span<const T>(g), 0.05);  // buf = 0.9*0.5 + 0.1 = 0.55, p = 0.95 - 0.0275
  check_close<T>(sgd.momentum_buffer(), {0.55}, tol<T>());
  check_close<T>(p, {0.9225}, tol<T>());
}

TEST_CASE_TEMPLATE("optim: Sgd nesterov steps, hand-computed", T, float, double) {
  Sgd<T> sgd(SgdConfig{.momentum = 0.9, .nesterov = true}, 1);
  std::vector<T> p = {T(1)};
  std::vector<T> g = {T(0.5)};
  sgd.step(std::span<T>(p), std::span<const T>(g), 0.1);  // buf = 0.5, u = 0.5 + 0.9*0.5 = 0.95, p = 0.905
  check_close<T>(p, {0.905}, tol<T>());
  g = {T(0.1)};
  sgd.step(std::span<T>(p), std::span<const T>(g), 0.05);  // buf = 0.55, u = 0.1 + 0.495 = 0.595
  check_close<T>(p, {0.905 - 0.05 * 0.595}, tol<T>());    // = 0.87525
}

TEST_CASE_TEMPLATE("optim: Sgd weight decay is L2 added to the gradient, hand-computed", T, float, double) {
  SUBCASE("without momentum") {
    Sgd<T> sgd(SgdConfig{.weight_decay = 0.1}, 2);
    std::vector<T> p = {T(1), T(-2)};
    std::vector<T> g = {T(0.5), T(0)};
    sgd.step(std::span<T>(p), std::span<const T>(g), 0.1);  // g' = 0.5 + 0.1, 0 - 0.2
    check_close<T>(p, {0.94, -1.98}, tol<T>());
  }
  SUBCASE("with momentum") {
    Sgd<T> sgd(SgdConfig{.momentum = 0.5, .weight_decay = 0.1}, 1);
    std::vector<T> p = {T(1)};
    std::vector<T> g = {T(0.5)};
    sgd.step(std::span<T>(p), std::span<const T>(g), 0.1);  // g' = 0.6 = buf, p = 0.94
    check_close<T>(sgd.momentum_buffer(), {0.6}, tol<T>());
    check_close<T>(p, {0.94}, tol<T>());
    sgd.step(std::span<T>(p), std::span<const T>(g), 0.1);  // g' = 0.594, buf = 0.3 + 0.594 = 0.894
    check_close<T>(sgd.momentum_buffer(), {0.894}, tol<T>());
    check_close<T>(p, {0.94 - 0.0894}, tol<T>());
  }
}

// ---- Sgd: PyTorch references ---------------------------------------------------------------------
// Produced offline with Debian's python3-torch 1.13 (float64 tensors): params kP0, for each step s:
// param_groups[0]['lr'] = kLrs[s]; p.grad = kGrads[s]; opt.step(); record p. Optimizers as named.

TEST_CASE_TEMPLATE("optim: Sgd matches torch.optim.SGD", T, float, double) {
  SUBCASE("SGD(lr=0.1)") {
    Sgd<T> sgd(SgdConfig{.lr = 0.1}, 4);
    run_reference<T>(sgd, {{0.95, -1.9, 0.475, 2.8},
                           {0.945, -1.9149999999999998, 0.485, 2.875},
                           {0.953, -1.9189999999999998, 0.473, 2.861}});
  }
  SUBCASE("SGD(lr=0.1, momentum=0.9)") {
    Sgd<T> sgd(SgdConfig{.lr = 0.1, .momentum = 0.9}, 4);
    run_reference<T>(sgd, {{0.95, -1.9, 0.475, 2.8},
                           {0.9225, -1.8699999999999999, 0.47375, 2.7849999999999997},
                           {0.9206, -1.8632, 0.4613, 2.7655999999999996}});
    check_close<T>(sgd.momentum_buffer(),
                   {0.09500000000000003, -0.34000000000000014, 0.6224999999999999, 0.97}, tol<T>());
  }
  SUBCASE("SGD(lr=0.1, momentum=0.9, nesterov=True)") {
    Sgd<T> sgd(SgdConfig{.lr = 0.1, .momentum = 0.9, .nesterov = true}, 4);
    run_reference<T>(sgd, {{0.905, -1.81, 0.4525, 2.62},
                           {0.87525, -1.798, 0.46137500000000004, 2.6815},
                           {0.88154, -1.7958800000000001, 0.43817000000000006, 2.65004}});
    check_close<T>(sgd.momentum_buffer(),
                   {0.09500000000000003, -0.34000000000000014, 0.6224999999999999, 0.97}, tol<T>());
  }
  SUBCASE("SGD(lr=0.1, momentum=0.9, weight_decay=0.01)") {
    Sgd<T> sgd(SgdConfig{.lr = 0.1, .momentum = 0.9, .weight_decay = 0.01}, 4);
    run_reference<T>(sgd, {{0.949, -1.898, 0.4745, 2.797},
                           {0.9205755, -1.866151, 0.47278774999999995, 2.7792515},
                           {0.9181585649, -1.8583121297999998, 0.46007678244999994, 2.7583061897}});
    check_close<T>(sgd.momentum_buffer(),
                   {0.12084675499999997, -0.39194351000000005, 0.6355483775, 1.0472655149999999}, tol<T>());
  }
  SUBCASE("SGD(lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True)") {
    Sgd<T> sgd(SgdConfig{.lr = 0.1, .momentum = 0.5, .weight_decay = 0.1, .nesterov = true}, 4);
    run_reference<T>(sgd, {{0.91, -1.82, 0.455, 2.655},
                           {0.888175, -1.81385, 0.4628375, 2.7188375},
                           {0.895055475, -1.81199845, 0.44347148750000004, 2.6901034874999996}});
    check_close<T>(sgd.momentum_buffer(), {-0.06568250000000003, -0.222385, 0.64403375, 0.9296337499999999},
                   tol<T>());
  }
}

// ---- Adam ----------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("optim: Adam two steps, hand-computed", T, float, double) {
  Adam<T> adam(AdamConfig{}, 1);  // beta1 0.9, beta2 0.999, eps 1e-8
  std::vector<T> p = {T(1)};
  std::vector<T> g = {T(0.5)};
  adam.step(std::span<T>(p), std::span<const T>(g), 0.1);
  // t = 1: m = 0.1*0.5 = 0.05, v = 0.001*0.25 = 0.00025; m/(1-0.9) = 0.5, sqrt(v/(1-0.999)) = 0.5
  // p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 1 - 0.1 / (1 + 2e-8) = 0.900000001999999960...
  CHECK(adam.step_count() == 1);
  check_close<T>(adam.first_moment(), {0.05}, tol<T>());
  check_close<T>(adam.second_moment(), {0.00025}, tol<T>());
  check_close<T>(p, {1.0 - 0.1 / (1.0 + 2e-8)}, tol<T>());
  g = {T(0.1)};
  adam.step(std::span<T>(p), std::span<const T>(g), 0.05);
  // t = 2: m = 0.9*0.05 + 0.1*0.1 = 0.055; v = 0.999*0.00025 + 0.001*0.01 = 0.00025975
  // m_hat = 0.055 / 0.19 = 0.28947368421052633; sqrt(v_hat) = sqrt(0.00025975 / 0.001999) = 0.36047186...
  // p = 0.900000002 - 0.05 * 0.28947368421052633 / (0.36047186... + 1e-8) = 0.85984795419232...
  CHECK(adam.step_count() == 2);
  check_close<T>(adam.first_moment(), {0.055}, tol<T>());
  check_close<T>(adam.second_moment(), {0.00025975}, tol<T>());
  check_close<T>(p, {0.8598479541923258}, tol<T>());  // torch.optim.Adam agrees (reference below)
}

// PyTorch references, produced as described above the Sgd references.
TEST_CASE_TEMPLATE("optim: Adam matches torch.optim.Adam", T, float, double) {
  SUBCASE("Adam(lr=1e-3)") {
    Adam<T> adam(AdamConfig{}, 4);
    run_reference<T>(adam, {{0.900000002, -1.900000001, 0.4000000039999998, 2.9000000005},
                            {0.8598479541923258, -1.8786075717146131, 0.39709375176331574, 2.895533750155001},
                            {0.8579739661870378, -1.8745173613715111, 0.38539700525188425, 2.8907565186751887}});
    CHECK(adam.step_count() == 3);
    check_close<T>(adam.first_moment(),
                   {0.009499999999999995, -0.033999999999999996, 0.062249999999999986, 0.09699999999999998},
                   tol<T>());
    check_close<T>(adam.second_moment(),
                   {0.0004194902500000004, 0.0011279110000000012, 0.00046233506250000037, 0.006729754000000006},
                   tol<T>());
  }
  SUBCASE("Adam(lr=1e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)") {
    Adam<T> adam(AdamConfig{.beta1 = 0.8, .beta2 = 0.99, .eps = 1e-6, .weight_decay = 0.1}, 4);
    run_reference<T>(adam, {{0.9000001666663889, -1.900000083333264, 0.40000033333222224, 2.900000043478242},
                            {0.858093990051502, -1.872221613419415, 0.3907441764324031, 2.8904635643270176},
                            {0.8536053939808713, -1.8643217623591415, 0.37699731407597625, 2.8828192610784646}});
    check_close<T>(adam.first_moment(),
                   {0.04436188246769224, -0.1334444336017205, 0.14061488886196358, 0.2986092719821921}, tol<T>());
    check_close<T>(adam.second_moment(),
                   {0.004872907400234951, 0.01423486271345774, 0.0052196910072608346, 0.07612400684756292},
                   tol<T>());
  }
  SUBCASE("Adam(lr=1e-3, betas=(0.3, 0.9)): the other lerp branch") {
    Adam<T> adam(AdamConfig{.beta1 = 0.3, .beta2 = 0.9}, 4);
    run_reference<T>(adam, {{0.900000002, -1.900000001, 0.4000000039999998, 2.9000000005},
                            {0.8726593090420816, -1.900000001, 0.4213605857849483, 2.9197273176398455},
                            {0.8852893215615217, -1.904909701368576, 0.40142399740439794, 2.915481653560173}});
    check_close<T>(adam.first_moment(), {-0.2275, 0.13999999999999999, 0.39374999999999993, 0.301}, tol<T>());
    check_close<T>(adam.second_moment(),
                   {0.037149999999999996, 0.09309999999999999, 0.04466249999999999, 0.5754999999999998}, tol<T>());
  }
}

// ---- state: reset, load, the Optimizer concept ---------------------------------------------------

static_assert(ist::optim::Optimizer<Sgd<float>> && ist::optim::Optimizer<Adam<double>>);

TEST_CASE_TEMPLATE("optim: reset_state makes the next step a first step", T, float, double) {
  const std::vector<T> g0 = to<T>(kGrads[0]);
  const std::vector<T> g1 = to<T>(kGrads[1]);
  SUBCASE("Sgd") {
    Sgd<T> used(SgdConfig{.momentum = 0.9, .nesterov = true}, 4);
    std::vector<T> p = to<T>(kP0);
    used.step(std::span<T>(p), std::span<const T>(g0), 0.1);
    used.step(std::span<T>(p), std::span<const T>(g1), 0.1);
    used.reset_state();
    CHECK_FALSE(used.momentum_initialized());
    for (T b : used.momentum_buffer()) CHECK(b == T(0));
    Sgd<T> fresh(used.config(), 4);
    std::vector<T> pa = to<T>(kP0), pb = to<T>(kP0);
    used.step(std::span<T>(pa), std::span<const T>(g1), 0.1);
    fresh.step(std::span<T>(pb), std::span<const T>(g1), 0.1);
    CHECK(pa == pb);
    CHECK(std::ranges::equal(used.momentum_buffer(), fresh.momentum_buffer()));
  }
  SUBCASE("Adam") {
    Adam<T> used(AdamConfig{.weight_decay = 0.01}, 4);
    std::vector<T> p = to<T>(kP0);
    used.step(std::span<T>(p), std::span<const T>(g0), 0.1);
    used.step(std::span<T>(p), std::span<const T>(g1), 0.1);
    used.reset_state();
    CHECK(used.step_count() == 0);
    for (T x : used.first_moment()) CHECK(x == T(0));
    for (T x : used.second_moment()) CHECK(x == T(0));
    Adam<T> fresh(used.config(), 4);
    std::vector<T> pa = to<T>(kP0), pb = to<T>(kP0);
    used.step(std::span<T>(pa), std::span<const T>(g1), 0.1);
    fresh.step(std::span<T>(pb), std::span<const T>(g1), 0.1);
    CHECK(pa == pb);
    CHECK(std::ranges::equal(used.first_moment(), fresh.first_moment()));
    CHECK(std::ranges::equal(used.second_moment(), fresh.second_moment()));
  }
}

TEST_CASE_TEMPLATE("optim: loaded state continues a run exactly", T, float, double) {
  // Optimizer a runs 3 reference steps; b takes over a's state after 2 steps and does step 3.
  std::vector<std::vector<T>> g;
  for (const auto& gs : kGrads) g.push_back(to<T>(gs));
  SUBCASE("Sgd") {
    const SgdConfig cfg{.momentum = 0.9, .weight_decay = 0.01};
    Sgd<T> a(cfg, 4), b(cfg, 4);
    std::vector<T> p = to<T>(kP0);
    a.step(std::span<T>(p), std::span<const T>(g[0]), kLrs[0]);
    a.step(std::span<T>(p), std::span<const T>(g[1]), kLrs[1]);
    b.load_momentum(a.momentum_buffer());
    CHECK(b.momentum_initialized());
    std::vector<T> pb = p;
    a.step(std::span<T>(p), std::span<const T>(g[2]), kLrs[2]);
    b.step(std::span<T>(pb), std::span<const T>(g[2]), kLrs[2]);
    CHECK(p == pb);
    CHECK(std::ranges::equal(a.state_buffer(0), b.state_buffer(0)));
  }
  SUBCASE("Adam") {
    Adam<T> a(AdamConfig{}, 4), b(AdamConfig{}, 4);
    std::vector<T> p = to<T>(kP0);
    a.step(std::span<T>(p), std::span<const T>(g[0]), kLrs[0]);
    a.step(std::span<T>(p), std::span<const T>(g[1]), kLrs[1]);
    b.load_state(a.first_moment(), a.second_moment(), a.step_count());
    std::vector<T> pb = p;
    a.step(std::span<T>(p), std::span<const T>(g[2]), kLrs[2]);
    b.step(std::span<T>(pb), std::span<const T>(g[2]), kLrs[2]);
    CHECK(p == pb);
    CHECK(std::ranges::equal(a.state_buffer(0), b.state_buffer(0)));
    CHECK(std::ranges::equal(a.state_buffer(1), b.state_buffer(1)));
  }
}

TEST_CASE("optim: state buffers") {
  Sgd<float> plain(SgdConfig{}, 3);
  CHECK(plain.num_state_buffers() == 0);
  check_error([&] { (void)plain.state_buffer(0); }, {"ist::optim::Sgd::state_buffer", "expected index < 0", "found 0"});
  check_error([&] { plain.load_momentum(std::vector<float>(3)); },
              {"ist::optim::Sgd::load_momentum", "expected momentum > 0", "found momentum 0"});
  Sgd<float> mom(SgdConfig{.momentum = 0.9}, 3);
  CHECK(mom.state_buffer(0).data() == mom.momentum_buffer().data());
  CHECK(mom.state_buffer(0).size() == 3);
  Adam<double> adam(AdamConfig{}, 5);
  CHECK(adam.has_state());
  CHECK(adam.num_state_buffers() == 2);
  CHECK(adam.state_buffer(0).data() == adam.first_moment().data());
  CHECK(adam.state_buffer(1).data() == adam.second_moment().data());
  check_error([&] { (void)adam.state_buffer(2); }, {"ist::optim::Adam::state_buffer", "expected index < 2", "found 2"});
  // Zero parameters is allowed: steps are no-ops.
  Adam<float> empty(AdamConfig{}, 0);
  empty.step(std::span<float>(), std::span<const float>(), 0.1);
  CHECK(empty.step_count() == 1);
}

// ---- errors --------------------------------------------------------------------------------------

TEST_CASE("optim: size mismatches name what was expected and found") {
  std::vector<float> p(4), g3(3), g4(4);
  Sgd<float> sgd(SgdConfig{}, 4);
  check_error([&] { sgd.step(std::span<float>(p), std::span<const float>(g3), 0.1); },
              {"ist::optim::Sgd::step", "expected grads of size 4", "found 3"});
  check_error([&] { sgd.step(std::span<float>(g3), std::span<const float>(g4), 0.1); },
              {"ist::optim::Sgd::step", "expected params of size 4", "found 3"});
  Sgd<float> mom(SgdConfig{.momentum = 0.9}, 4);
  check_error([&] { mom.load_momentum(g3); }, {"ist::optim::Sgd::load_momentum", "expected 4 values", "found 3"});
  Adam<float> adam(AdamConfig{}, 4);
  check_error([&] { adam.step(std::span<float>(p), std::span<const float>(g3), 0.1); },
              {"ist::optim::Adam::step", "expected grads of size 4", "found 3"});
  check_error([&] { adam.step(std::span<float>(g3), std::span<const float>(g4), 0.1); },
              {"ist::optim::Adam::step", "expected params of size 4", "found 3"});
  check_error([&] { adam.load_state(g4, g3, 1); },
              {"ist::optim::Adam::load_state", "expected second moment of size 4", "found 3"});
  check_error([&] { adam.load_state(g4, g4, -1); }, {"ist::optim::Adam::load_state", "step_count >= 0", "found -1"});
  CHECK(adam.step_count() == 0);  // failed calls change nothing
}

TEST_CASE("optim: invalid configurations and learning rates are rejected") {
  check_error([] { Sgd<float>(SgdConfig{.lr = -0.1}, 1); }, {"ist::optim::Sgd", "expected lr >= 0", "found -0.1"});
  check_error([] { Sgd<float>(SgdConfig{.momentum = 1.0}, 1); },
              {"ist::optim::Sgd", "expected momentum in [0, 1)", "found 1"});
  check_error([] { Sgd<float>(SgdConfig{.momentum = -0.5}, 1); }, {"expected momentum in [0, 1)", "found -0.5"});
  check_error([] { Sgd<float>(SgdConfig{.weight_decay = -1}, 1); }, {"expected weight_decay >= 0", "found -1"});
  check_error([] { Sgd<float>(SgdConfig{.nesterov = true}, 1); },
              {"ist::optim::Sgd", "expected momentum > 0 when nesterov is true", "found momentum 0"});
  check_error([] { Adam<float>(AdamConfig{.beta1 = 1.0}, 1); },
              {"ist::optim::Adam", "expected beta1 in [0, 1)", "found 1"});
  check_error([] { Adam<float>(AdamConfig{.beta2 = -0.1}, 1); }, {"expected beta2 in [0, 1)", "found -0.1"});
  check_error([] { Adam<float>(AdamConfig{.eps = -1e-8}, 1); }, {"expected eps >= 0", "found -1e-08"});
  check_error([] { Adam<float>(AdamConfig{.weight_decay = -1}, 1); }, {"expected weight_decay >= 0"});
  check_error([] { Adam<float>(AdamConfig{.lr = std::nan("")}, 1); }, {"expected lr >= 0", "found nan"});
  std::vector<float> p(1), g(1);
  Sgd<float> sgd(SgdConfig{}, 1);
  check_error([&] { sgd.step(std::span<float>(p), std::span<const float>(g), -1.0); },
              {"ist::optim::Sgd::step", "expected lr >= 0", "found -1"});
  Adam<float> adam(AdamConfig{}, 1);
  check_error([&] { adam.step(std::span<float>(p), std::span<const float>(g), -1.0); },
              {"ist::optim::Adam::step", "expected lr >= 0", "found -1"});
  CHECK(adam.step_count() == 0);
  // lr = 0 is allowed and leaves params unchanged.
  p = {1.5f};
  g = {2.0f};
  sgd.step(std::span<float>(p), std::span<const float>(g), 0.0);
  CHECK(p[0] == 1.5f);
}

// ---- schedules -----------------------------------------------------------------------------------

TEST_CASE("optim: ConstantSchedule") {
  const ist::optim::ConstantSchedule s{0.05};
  CHECK(s.at(0.0) == 0.05);
  CHECK(s.at(1e6) == 0.05);
  check_error([&] { (void)s.at(-1.0); }, {"ist::optim::ConstantSchedule::at", "expected epoch >= 0", "found -1"});
}

TEST_CASE("optim: StepSchedule drops by gamma at each milestone, inclusive") {
  const ist::optim::StepSchedule s{0.1, {50.0, 75.0}};  // gamma = 0.1
  CHECK(s.at(0.0) == doctest::Approx(0.1));
  CHECK(s.at(49.999) == doctest::Approx(0.1));
  CHECK(s.at(50.0) == doctest::Approx(0.01));  // a milestone counts once epoch reaches it
  CHECK(s.at(74.5) == doctest::Approx(0.01));
  CHECK(s.at(75.0) == doctest::Approx(0.001));
  CHECK(s.at(1000.0) == doctest::Approx(0.001));
  const ist::optim::StepSchedule half{1.0, {1.0, 2.0, 3.0}, 0.5};
  CHECK(half.at(2.5) == 0.25);
  CHECK(half.at(3.0) == 0.125);
  const ist::optim::StepSchedule none{0.3, {}};
  CHECK(none.at(7.0) == 0.3);
  check_error([] { (void)ist::optim::StepSchedule{0.1, {5.0, 2.0}}.at(1.0); },
              {"ist::optim::StepSchedule::at", "expected nondecreasing milestones >= 0", "milestone 1 = 2"});
  check_error([] { (void)ist::optim::StepSchedule{0.1, {}, 0.0}.at(1.0); }, {"expected gamma in (0, 1]", "found 0"});
  check_error([&] { (void)s.at(-0.5); }, {"expected epoch >= 0", "found -0.5"});
}

TEST_CASE("optim: CosineSchedule values at the boundaries") {
  SUBCASE("no warmup") {
    const ist::optim::CosineSchedule s{0.1, 100.0, 0.001};
    CHECK(s.at(0.0) == doctest::Approx(0.1));
    CHECK(s.at(50.0) == doctest::Approx(0.0505));  // midpoint: (base + min) / 2
    CHECK(s.at(25.0) == doctest::Approx(0.001 + 0.099 * 0.5 * (1.0 + std::sqrt(0.5))));
    CHECK(s.at(100.0) == doctest::Approx(0.001));
    CHECK(s.at(150.0) == 0.001);
    CHECK(s.at(99.0) > s.at(100.0));
  }
  SUBCASE("warmup ramps linearly from 0, then the cosine spans the remaining epochs") {
    const ist::optim::CosineSchedule s{0.2, 10.0, 0.0, 2.0};
    CHECK(s.at(0.0) == 0.0);
    CHECK(s.at(0.5) == doctest::Approx(0.05));
    CHECK(s.at(2.0) == doctest::Approx(0.2));
    CHECK(s.at(6.0) == doctest::Approx(0.1));
    CHECK(s.at(10.0) == doctest::Approx(0.0));
  }
  check_error([] { (void)ist::optim::CosineSchedule{0.1, 0.0}.at(0.0); },
              {"ist::optim::CosineSchedule::at", "expected total_epochs > 0", "found 0"});
  check_error([] { (void)ist::optim::CosineSchedule{0.1, 10.0, 0.0, 10.0}.at(0.0); },
              {"expected warmup_epochs in [0, 10) (total_epochs)", "found 10"});
  check_error([] { (void)ist::optim::CosineSchedule{0.1, 10.0, 0.5}.at(0.0); },
              {"expected min_lr in [0, 0.1] (base_lr)", "found 0.5"});
}

TEST_CASE("optim: parse_schedule accepted forms") {
  using namespace ist::optim;
  const LrSchedule c = parse_schedule("constant", 0.1, 100.0);
  REQUIRE(std::holds_alternative<ConstantSchedule>(c));
  CHECK(lr_at(c, 0.0) == 0.1);
  CHECK(lr_at(c, 99.0) == 0.1);

  const LrSchedule st = parse_schedule("step:0.5,0.75", 0.1, 100.0);  // ResIST: /10 at 50% and 75%
  REQUIRE(std::holds_alternative<StepSchedule>(st));
  CHECK(std::get<StepSchedule>(st).milestones == std::vector<double>{50.0, 75.0});
  CHECK(std::get<StepSchedule>(st).gamma == 0.1);
  CHECK(lr_at(st, 49.99) == doctest::Approx(0.1));
  CHECK(lr_at(st, 50.0) == doctest::Approx(0.01));
  CHECK(lr_at(st, 75.0) == doctest::Approx(0.001));

  const LrSchedule one = parse_schedule(" step: 0.3 ", 1.0, 10.0);  // whitespace is ignored
  CHECK(std::get<StepSchedule>(one).milestones == std::vector<double>{3.0});

  const LrSchedule cos = parse_schedule("cosine", 0.1, 20.0);
  REQUIRE(std::holds_alternative<CosineSchedule>(cos));
  CHECK(lr_at(cos, 0.0) == doctest::Approx(0.1));
  CHECK(lr_at(cos, 10.0) == doctest::Approx(0.05));
  CHECK(lr_at(cos, 20.0) == doctest::Approx(0.0));
}

TEST_CASE("optim: parse_schedule errors name the spec and the accepted forms") {
  using ist::optim::parse_schedule;
  const std::string forms = "expected \"constant\", \"cosine\" or \"step:F1,F2,...\"";
  for (const char* bad : {"", "linear", "Constant", "step", "step:", "step:0.5,", "step:,0.5", "step:abc",
                          "step:0.5x", "step:1.5", "step:-0.1", "step:0.75,0.5", "cosine:5"}) {
    INFO("spec: " << bad);
    check_error([&] { (void)parse_schedule(bad, 0.1, 100.0); },
                {"ist::optim::parse_schedule", forms, "found \"" + std::string(bad) + "\""});
  }
  check_error([] { (void)parse_schedule("step:0.5,0.25", 0.1, 10.0); }, {"milestone 0.25 is below the one before"});
  check_error([] { (void)parse_schedule("step:0.5,x", 0.1, 10.0); }, {"milestone \"x\" is not a number"});
  check_error([] { (void)parse_schedule("step:2", 0.1, 10.0); }, {"milestone 2 is outside [0, 1]"});
  check_error([] { (void)parse_schedule("constant", -0.1, 10.0); },
              {"ist::optim::parse_schedule", "expected base_lr >= 0", "found -0.1"});
  check_error([] { (void)parse_schedule("cosine", 0.1, 0.0); },
              {"ist::optim::parse_schedule", "expected total_epochs > 0", "found 0"});
}

}  // namespace test_optim
