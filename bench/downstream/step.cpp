// A downstream program's local training step, timed: PreAct ResNet-20 (1x28x28 inputs, 10 classes), batch
// 128, forward in training mode, softmax cross-entropy, backward, SGD update (momentum 0.9). The same file
// is built two ways for bench/installed_speed.sh:
//   * inside ist's own build: bench/CMakeLists.txt, target ist_downstream_step (ist_dev_flags, IST_NATIVE);
//   * as a downstream project against the installed package, the way README.md says (find_package(ist),
//     ist::ist + ist::native, CMAKE_BUILD_TYPE=Release): bench/downstream/CMakeLists.txt.
//
//   ist_downstream_step [steps (default 10)] [threads (default 1)]
//
// One line: the median and the best CPU time (the process's, all threads) and wall time per step over
// `steps` steps after two warm-up steps, and the vector instructions the kernels were compiled for.
#include <time.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "../bench_common.hpp"  // ist::bench::random_vector, ist::bench::simd_isa
#include "ist/backend/eigen/compute.hpp"
#include "ist/model/init.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/optim/sgd.hpp"

namespace {

double seconds(clockid_t clock) {
  timespec t{};
  clock_gettime(clock, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int steps = argc > 1 ? std::stoi(argv[1]) : 10;
    const int threads = argc > 2 ? std::stoi(argv[2]) : 1;
    if (steps < 1 || threads < 1) {
      std::fprintf(stderr, "ist_downstream_step: expected steps >= 1 and threads >= 1, found %d and %d\n", steps,
                   threads);
      return 2;
    }
    using Net = ist::PreActResNet20<1, 10>;
    constexpr int kBatch = 128, kSide = 28;
    ist::eigen::CpuContext ctx(threads);
    ist::ResNetNetwork<Net> net(ctx);
    net.configure(kBatch, kSide, kSide);
    const auto layout = ist::ParamLayout::full<Net>();
    std::vector<float> params(Net::num_params), grads(Net::num_params);
    ist::init_params<Net>(std::span<float>(params), 1);
    ist::optim::Sgd<float> sgd(ist::optim::SgdConfig{0.01, 0.9, 5e-4, false}, params.size());
    const auto x = ist::bench::random_vector<float>(std::size_t(kBatch) * Net::in_channels * kSide * kSide, 2);
    std::vector<std::int32_t> labels(kBatch);
    for (int i = 0; i < kBatch; ++i) labels[std::size_t(i)] = i % Net::num_classes;

    float loss = 0;
    auto step = [&] {
      std::fill(grads.begin(), grads.end(), 0.0f);
      const float* logits = net.forward(params.data(), layout, x.data());
      loss = float(ist::eigen::softmax_cross_entropy(kBatch, Net::num_classes, logits, labels.data(), net.dlogits()).loss);
      net.backward(params.data(), grads.data(), layout);
      sgd.step(std::span<float>(params), std::span<const float>(grads));
    };
    for (int i = 0; i < 2; ++i) step();
    std::vector<double> cpu, wall;
    for (int i = 0; i < steps; ++i) {
      const double c0 = seconds(CLOCK_PROCESS_CPUTIME_ID), w0 = seconds(CLOCK_MONOTONIC);
      step();
      cpu.push_back(1e3 * (seconds(CLOCK_PROCESS_CPUTIME_ID) - c0));
      wall.push_back(1e3 * (seconds(CLOCK_MONOTONIC) - w0));
    }
    std::printf("cpu_ms %.2f cpu_ms_min %.2f wall_ms %.2f wall_ms_min %.2f steps %d threads %d loss %.4f simd %s\n",
                median(cpu), *std::min_element(cpu.begin(), cpu.end()), median(wall),
                *std::min_element(wall.begin(), wall.end()), steps, threads, double(loss),
                ist::bench::simd_isa().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist_downstream_step: error: %s\n", e.what());
    return 1;
  }
}
