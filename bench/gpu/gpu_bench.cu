// ist_gpu_bench: GPU figures for docs/cuda.md, timed with CUDA events (bench/gpu/compare_pytorch_gpu.py runs it
// next to PyTorch on the same GPU and prints the ratios).
//
//   ist_gpu_bench [--steps N] [--json FILE]
//
// 1. Memory bandwidth: cudaMemcpy device-to-device of 1 GiB (bytes read + written per second), the
//    machine's reference; then each element-wise kernel of the backend on 2^26 floats: achieved GB/s and
//    the fraction of the copy's rate.
// 2. A PreAct ResNet-56 training step (3x32x32 inputs, batch 128, 10 classes): forward in training mode,
//    softmax cross-entropy, zeroed gradients, backward, fused SGD update (momentum 0.9, weight decay 5e-4):
//    images/s, in FP32 with deterministic cuDNN algorithms (the default), in FP32 with any algorithm, and with
//    TF32 and benchmarked algorithms; each with the loss read back every step ("sync") and with the loss left
//    on the device ("async", as the trainer's local steps do).
// Prints one "ist-gpu-bench:" line per figure and, with --json, writes them as one JSON object (atomically).
// --help lists the flags (CLI11).
#include <CLI/CLI.hpp>
#include <cuda_runtime.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "ist/backend/cuda/compute.cuh"
#include "ist/backend/cuda/elementwise.cuh"
#include "ist/backend/cuda/sgd.cuh"
#include "ist/core/atomic_file.hpp"
#include "ist/core/rng.hpp"
#include "ist/networks/resnet_network.hpp"
#include "ist/model/init.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/presets.hpp"

namespace {

using namespace ist;

std::map<std::string, double> figures;

void report(const std::string& key, double value, const char* unit) {
  figures[key] = value;
  std::printf("ist-gpu-bench: %-44s %12.3f %s\n", key.c_str(), value, unit);
  std::fflush(stdout);
}

// Milliseconds per call of f, on ctx's stream: `warmup` untimed calls, then `reps` timed ones.
double time_ms(cudaStream_t stream, int warmup, int reps, const std::function<void()>& f) {
  for (int i = 0; i < warmup; ++i) f();
  cudaEvent_t a, b;
  IST_CUDA_CHECK(cudaEventCreate(&a));
  IST_CUDA_CHECK(cudaEventCreate(&b));
  IST_CUDA_CHECK(cudaEventRecord(a, stream));
  for (int i = 0; i < reps; ++i) f();
  IST_CUDA_CHECK(cudaEventRecord(b, stream));
  IST_CUDA_CHECK(cudaEventSynchronize(b));
  float ms = 0;
  IST_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return double(ms) / reps;
}

void bandwidth(cuda::CudaContext& ctx) {
  const std::size_t n = std::size_t(1) << 28;  // 1 GiB of floats
  cuda::DeviceBuffer<float> a(n), b(n);
  const double copy_ms = time_ms(ctx.stream(), 3, 20, [&] {
    IST_CUDA_CHECK(cudaMemcpyAsync(b.data(), a.data(), n * sizeof(float), cudaMemcpyDeviceToDevice, ctx.stream()));
  });
  const double peak = 2.0 * n * sizeof(float) / (copy_ms * 1e-3) / 1e9;
  report("bandwidth/memcpy_d2d_GBps", peak, "GB/s (read + write)");

  // Random signs: ReLU's backward reads dy only where y > 0, so zeros would skip half its traffic.
  const std::size_t m = std::size_t(1) << 26;
  std::vector<float> host(m);
  Rng rng(3);
  for (auto& v : host) v = float(rng.normal());
  cuda::DeviceBuffer<float> x(std::span<const float>(host), ctx.stream()), y(std::span<const float>(host), ctx.stream()),
      z(m), g(std::span<const float>(host), ctx.stream());
  cuda::Sgd sgd(ctx, {0.1, 0.9, 5e-4, false}, m);
  struct Kernel {
    const char* name;
    double bytes_per_element;
    std::function<void()> run;
  };
  const std::vector<Kernel> kernels = {
      {"relu_forward", 8, [&] { cuda::relu_forward(ctx, m, x.data(), y.data()); }},
      {"relu_backward", 12, [&] { cuda::relu_backward(ctx, m, x.data(), y.data(), z.data()); }},
      {"residual_add", 12, [&] { cuda::residual_add(ctx, m, 0.5f, x.data(), y.data()); }},
      {"scale_copy", 8, [&] { cuda::scale_copy(ctx, m, 0.5f, x.data(), y.data()); }},
      {"add_to", 12, [&] { cuda::add_to(ctx, m, x.data(), y.data()); }},
      // p, g, momentum read; p, momentum written.
      {"sgd_step_momentum", 20,
       [&] { sgd.step(std::span<float>(x.data(), m), std::span<const float>(g.data(), m), 1e-6); }},
  };
  for (const auto& k : kernels) {
    const double ms = time_ms(ctx.stream(), 3, 50, k.run);
    const double gbps = k.bytes_per_element * double(m) / (ms * 1e-3) / 1e9;
    report(std::string("bandwidth/") + k.name + "_GBps", gbps, "GB/s");
    report(std::string("bandwidth/") + k.name + "_fraction_of_memcpy", gbps / peak, "");
  }
}

// deferred_loss: the loss stays on the device (as the trainer's local steps keep it until the round ends);
// otherwise it is read back every step, which makes the host wait for the GPU once per step.
template <class Net>
void training_step(const char* name, int steps, const cuda::CudaOptions& options, const char* mode,
                   bool deferred_loss) {
  constexpr int batch = 128, hw = 32;
  cuda::CudaContext ctx(0, options);
  ResNetNetwork<Net, float, cuda::Compute> net(ctx);
  net.configure(batch, hw, hw);
  const ParamLayout layout = ParamLayout::full<Net>();
  std::vector<float> params(Net::num_params);
  init_params<Net>(std::span<float>(params), 1);
  Rng rng(2);
  std::vector<float> x(std::size_t(batch) * Net::in_channels * hw * hw);
  for (auto& v : x) v = float(rng.normal());
  std::vector<std::int32_t> labels(batch);
  for (auto& l : labels) l = std::int32_t(rng.below(10));
  cuda::DeviceBuffer<float> P(std::span<const float>(params), ctx.stream()), G(params.size()),
      X(std::span<const float>(x), ctx.stream());
  cuda::DeviceBuffer<std::int32_t> L(std::span<const std::int32_t>(labels), ctx.stream());
  cuda::Sgd sgd(ctx, {0.01, 0.9, 5e-4, false}, params.size());
  double loss = 0;
  auto* readout = ctx.step_readouts<cuda::detail::LossReadout>(1);
  const auto step = [&] {
    const float* logits = net.forward(P.data(), layout, X.data());
    if (deferred_loss)
      cuda::softmax_cross_entropy_deferred(ctx, batch, Net::num_classes, logits, L.data(), net.dlogits(), readout);
    else
      loss = cuda::Compute::softmax_cross_entropy(ctx, batch, Net::num_classes, logits, L.data(), net.dlogits()).loss;
    G.zero(ctx.stream());
    net.backward(P.data(), G.data(), layout);
    sgd.step(std::span<float>(P.data(), P.size()), std::span<const float>(G.data(), G.size()), 0.01);
  };
  const double ms = time_ms(ctx.stream(), 10, steps, step);
  if (deferred_loss) loss = cuda::read_losses(ctx, readout, 1, Net::num_classes).loss / batch;
  if (!(loss == loss)) std::fprintf(stderr, "ist_gpu_bench: %s: the loss is NaN\n", name);
  const std::string key = std::string("step/") + name + "/" + mode + (deferred_loss ? "/async" : "/sync");
  report(key + "/ms", ms, "ms");
  report(key + "/images_per_s", batch / (ms * 1e-3), "images/s");
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 50;
  std::string json;
  CLI::App app{"ist_gpu_bench: the CUDA backend's memory bandwidth and a PreAct ResNet-56 training step, timed "
               "with CUDA events"};
  app.add_option("--steps", steps, "timed training steps per configuration")
      ->capture_default_str()->check(CLI::Range(1, 1 << 30));
  app.add_option("--json", json, "write every figure to FILE as one JSON object");
  CLI11_PARSE(app, argc, argv);
  try {
    if (cuda::detail::device_count() == 0) {
      std::printf("skipped: no CUDA device\n");
      return 0;
    }
    cudaDeviceProp prop{};
    IST_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("ist-gpu-bench: device 0: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
    {
      cuda::CudaContext ctx(0);
      bandwidth(ctx);
    }
    cuda::CudaOptions fast;
    fast.allow_tf32 = true;
    fast.deterministic = false;
    fast.conv_search = cuda::ConvAlgoSearch::Benchmark;
    cuda::CudaOptions any;  // FP32, any algorithm by cuDNN's heuristics (PyTorch's defaults without TF32)
    any.deterministic = false;
    using Net56 = PreActResNet56<3, 10>;
    const char* name = "preact_resnet56_b128_3x32x32";
    training_step<Net56>(name, steps, {}, "fp32_deterministic", false);
    training_step<Net56>(name, steps, {}, "fp32_deterministic", true);
    training_step<Net56>(name, steps, any, "fp32_any_algorithm", false);
    training_step<Net56>(name, steps, any, "fp32_any_algorithm", true);
    training_step<Net56>(name, steps, fast, "tf32_benchmark", false);
    training_step<Net56>(name, steps, fast, "tf32_benchmark", true);
    if (!json.empty()) write_file_atomically(json, nlohmann::json(figures).dump(2) + "\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist_gpu_bench: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
