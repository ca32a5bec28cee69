// ist::cuda::NcclComm on one GPU: one process, one rank (ncclCommInitAll), so rank 0's own worker goes
// through ncclSend/ncclRecv to itself: transfers bit for bit (float slices and codec byte payloads), the
// ledger, all_sum, check_round, errors, and the trainer on CudaBackend<NcclComm> against
// CudaBackend<StreamComm> with float32, bf16 and top-k (the same weights and residuals, bit for bit, and the
// same bytes). Several ranks need several GPUs (NCCL refuses two ranks on one device); nccl_mpi.cuh is
// compiled here but runs only under mpirun on such a machine.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <span>
#include <vector>

#include "gpu_test_util.cuh"
#include "ist/backend/cuda/cuda_backend.cuh"
#include "ist/backend/cuda/nccl_comm.cuh"
#include "ist/backend/cuda/stream_comm.cuh"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/model/presets.hpp"
#include "ist/train/trainer.hpp"
#if IST_GPU_TESTS_WITH_DATA
#include "gpu_trainer_util.cuh"
#include "../skip.hpp"

namespace test_nccl {
#endif

namespace {

using namespace ist;

TEST_CASE("NcclComm without a device: a clear error") {
  if (cuda::detail::device_count() == 0) {
    CHECK_THROWS_WITH_AS(cuda::NcclComm::single_process(0), doctest::Contains("no CUDA device"), Error);
  } else {
    CHECK_THROWS_WITH_AS(cuda::NcclComm::single_process(cuda::detail::device_count()),
                         doctest::Contains("expected a device in [0, "), Error);
  }
}

TEST_SUITE("cuda-device") {

TEST_CASE("NcclComm (one rank): slices through NCCL to the worker and back bit for bit; all_sum; check_round") {
  auto comm = cuda::NcclComm::single_process(0);
  CHECK(comm.num_workers() == 1);
  CHECK(comm.is_coordinator());
  CHECK(comm.is_local(0));
  const std::vector<float> host = test::random_floats(100003, 5);
  cuda::DeviceBuffer<float> dev(host.size());
  comm.ledger().begin_round(0, 1);
  comm.to_worker(0, std::span<const float>(host), std::span<float>(dev.data(), dev.size()));
  CHECK(test::download(dev) == host);
  std::vector<float> back(host.size());
  comm.to_coordinator(0, std::span<const float>(dev.data(), dev.size()), std::span<float>(back));
  CHECK(back == host);
  CHECK(CommLedger::total(comm.ledger().this_round()) == 2 * host.size() * sizeof(float));
  CHECK(comm.ledger().this_round()[0].messages == 2);

  std::vector<double> v = {1.5, -2.25, 1e300};
  comm.all_sum(std::span<double>(v));
  CHECK(v == std::vector<double>{1.5, -2.25, 1e300});  // one rank: the sum is the value
  comm.check_round(7, 0xfeedbeefcafeULL);               // one rank always agrees with itself
  int ran = -1;
  comm.run_workers([&](int w) { ran = w; });
  CHECK(ran == 0);
  CHECK_THROWS_WITH_AS(comm.to_worker(1, std::span<const float>(host), std::span<float>(dev.data(), dev.size())),
                       doctest::Contains("to_worker: expected a worker in [0, 1), found 1"), Error);
  CHECK_THROWS_WITH_AS(comm.to_worker(0, std::span<const float>(host), std::span<float>(dev.data(), 5)),
                       doctest::Contains("expected equal sizes, found 100003 and 5"), Error);

  // Byte payloads (transfer codecs): host bytes through NCCL and back, the length first; empty ones too.
  comm.ledger().begin_round(1, 1);
  std::vector<std::byte> payload(70001), arrived, returned;
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(std::uint8_t(i * 131 + 7));
  comm.to_worker_bytes(0, std::span<const std::byte>(payload), arrived);
  CHECK(arrived == payload);
  comm.to_coordinator_bytes(0, std::span<const std::byte>(payload.data(), 5), returned);
  CHECK(returned == std::vector<std::byte>(payload.begin(), payload.begin() + 5));
  comm.to_worker_bytes(0, std::span<const std::byte>(), arrived);
  CHECK(arrived.empty());
  CHECK(CommLedger::total(comm.ledger().this_round()) == payload.size() + 5);
  CHECK_THROWS_WITH_AS(comm.to_coordinator_bytes(2, std::span<const std::byte>(payload), returned),
                       doctest::Contains("to_coordinator_bytes: expected a worker in [0, 1), found 2"), Error);
}

#if IST_GPU_TESTS_WITH_DATA
TEST_CASE("Trainer on CudaBackend<NcclComm> equals CudaBackend<StreamComm> (S = 1), with every kind of codec: weights bit for bit, same bytes") {
  const auto data = test::fashion_subset(512);
  if (!data) IST_SKIP_TEST("Fashion-MNIST not found (set IST_FASHION_MNIST_DIR)");
  using Net = PreActResNet20<1, 10>;
  // float32 moves device slices through NCCL; the others host payloads (to_worker_bytes), and top-k keeps a
  // residual on the worker's side.
  for (const char* name : {"float32", "bf16", "topk:0.1:warmup:flush"}) {
    CAPTURE(name);
    TrainerConfig cfg = test::short_run_config(4, {0.05, 0.9, 5e-4, false});
    cfg.codec = name;
    IndependentSubnetTrainer<Net, LayerwiseRandom, HolderAverage, CudaBackend<cuda::NcclComm>> nccl(
        LayerwiseRandom{}, HolderAverage{}, CudaBackend<cuda::NcclComm>(cuda::NcclComm::single_process(0)), cfg);
    IndependentSubnetTrainer<Net, LayerwiseRandom, HolderAverage, CudaBackend<cuda::StreamComm>> streams(
        LayerwiseRandom{}, HolderAverage{}, CudaBackend<cuda::StreamComm>(cuda::StreamComm(1)), cfg);
    const FitResult a = nccl.fit(*data, *data), b = streams.fit(*data, *data);
    REQUIRE(a.rounds.size() == 2);
    REQUIRE(b.rounds.size() == 2);
    for (std::size_t r = 0; r < 2; ++r) {
      CHECK(a.rounds[r].train_loss == b.rounds[r].train_loss);
      CHECK(a.rounds[r].bytes_to_workers == b.rounds[r].bytes_to_workers);
      CHECK(a.rounds[r].bytes_from_workers == b.rounds[r].bytes_from_workers);
    }
    CHECK(a.total_bytes == b.total_bytes);
    CHECK(std::vector<float>(nccl.params().begin(), nccl.params().end()) ==
          std::vector<float>(streams.params().begin(), streams.params().end()));
    const auto ra = nccl.codec_residual(0), rb = streams.codec_residual(0);
    CHECK(std::vector<float>(ra.begin(), ra.end()) == std::vector<float>(rb.begin(), rb.end()));
    CHECK(a.final_eval.accuracy == b.final_eval.accuracy);
    MESSAGE("ist-gpu: NcclComm trainer, codec " << name << ": 2 rounds, train loss " << a.rounds[1].train_loss
                                               << ", " << a.total_bytes << " bytes, equal to StreamComm bit for bit");
  }
}
#endif

}  // TEST_SUITE("cuda-device")

}  // namespace

}  // namespace test_nccl
