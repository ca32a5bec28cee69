// A job in which one rank fails mid-round must end, not hang: the failing rank's exception reaches main,
// which prints it and calls MPI_Abort; MPI then stops the ranks that wait for its messages.
//
//   mpirun -np 4 ist_mpi_fail_mid_round [FAILING_RANK = 2] [FAILING_ROUND = 1]     (--help: CLI11)
//
// expect_failure.cmake runs this under ctest and checks the exit status, the message and the time.
#include <CLI/CLI.hpp>
#include <mpi.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

#include "ist/backend/cpu_backend.hpp"
#include "ist/comm/mpi_comm.hpp"
#include "ist/decompose/layerwise_random.hpp"
#include "ist/train/trainer.hpp"
#include "mpi_test.hpp"

namespace {

// MpiComm whose worker on `fail_rank` throws after its local steps in round `fail_round`.
class FailingComm : public ist::MpiComm {
 public:
  FailingComm(int fail_rank, std::uint64_t fail_round) : fail_rank_(fail_rank), fail_round_(fail_round) {}
  void run_workers(std::function<void(int)> f) {
    ist::MpiComm::run_workers([&](int w) {
      f(w);
      if (w == fail_rank_ && ledger().round() == fail_round_)
        ist::fail("worker ", w, " failed on purpose in round ", fail_round_);
    });
  }

 private:
  int fail_rank_;
  std::uint64_t fail_round_;
};

}  // namespace

int main(int argc, char** argv) {
  int provided = 0;  // MPI is called from the main thread only; OpenMP threads compute
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int fail_rank = 2;
  std::uint64_t fail_round = 1;
  CLI::App app{"ist_mpi_fail_mid_round: a ResIST run under MPI whose worker on one rank throws in one round; the "
               "job must end with that error, not hang"};
  app.add_option("rank", fail_rank, "the rank whose worker throws")->capture_default_str()
      ->check(CLI::Range(0, 1 << 30));
  app.add_option("round", fail_round, "the round (1-based) in which it throws")->capture_default_str()
      ->check(CLI::Range(1, 1 << 30));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = rank == 0 ? app.exit(e) : e.get_exit_code();  // rank 0 prints help and errors
    MPI_Finalize();
    return code;
  }
  try {
    ist::TrainerConfig cfg;
    cfg.local_steps = 2;
    cfg.batch = 8;
    cfg.max_rounds = 4;
    cfg.progress = rank == 0;
    const auto data = ist::mpi_test::synthetic(64, 1, 8, 3, 1);
    ist::IndependentSubnetTrainer<ist::mpi_test::TinyNet, ist::LayerwiseRandom, ist::HolderAverage,
                                  ist::CpuBackend<FailingComm>>
        trainer(ist::LayerwiseRandom{}, ist::HolderAverage{},
                ist::CpuBackend<FailingComm>(FailingComm(fail_rank, fail_round)), cfg);
    trainer.fit(data, data);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ist_mpi_fail_mid_round: rank %d: error: %s\n", rank, e.what());
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, 3);
  }
  MPI_Finalize();
  return 0;
}
