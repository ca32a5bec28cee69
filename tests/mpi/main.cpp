// The MPI test runner: every rank runs the same doctest suite (the test cases call collectives, so all ranks
// must run the same cases in the same order), and the ranks' results are combined with MPI_Allreduce: the
// program fails on every rank if any rank failed. Rank 0 prints the usual report; the other ranks print
// only their failures, each tagged with its rank by MPI_RANK_INFO() in the test cases.
//
// A test case that cannot run here (IST_SKIP_TEST, tests/skip.hpp: e.g. it needs 2 ranks and the job has
// one) makes the program exit with 77 on every rank when no rank failed, which ctest (SKIP_RETURN_CODE,
// tests/mpi/CMakeLists.txt) reports as skipped.
//
// Debian's doctest-dev ships no doctest/extensions/doctest_mpi.h, so this small main stands in for it.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <mpi.h>

#include <cstdio>

#include "../skip.hpp"

int main(int argc, char** argv) {
  int provided = 0;  // MPI is called from the main thread only; OpenMP threads compute
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);

  doctest::Context context(argc, argv);
  if (rank != 0) {
    context.setOption("minimal", true);  // failures only
    context.setOption("no-version", true);
    context.setOption("no-colors", true);
  }
  const int result = context.run();
  if (context.shouldExit()) {  // --help, --list-test-cases, ...
    MPI_Finalize();
    return result;
  }
  const int failed = result != 0 ? 1 : 0;
  int failed_ranks = 0;
  MPI_Allreduce(&failed, &failed_ranks, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  const int skipped = ist::test::skipped_tests().load();
  int skipped_max = 0;
  MPI_Allreduce(&skipped, &skipped_max, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  if (rank == 0) {
    std::printf("ist_mpi_tests: %d of %d ranks %s\n", failed_ranks ? failed_ranks : size, size,
                failed_ranks ? "failed" : "passed");
    if (!failed_ranks && skipped_max > 0)
      std::printf("SKIPPED: %d test case(s) skipped themselves (see their SKIPPED lines above)\n", skipped_max);
  }
  MPI_Finalize();
  if (failed_ranks) return 1;
  return skipped_max > 0 ? ist::test::kSkipExitCode : 0;
}
