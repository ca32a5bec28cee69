#pragma once
// MPI for the programs: whether an MPI launcher started this process, and an MpiSession that initializes
// MPI (when used) and finalizes it on every path. Without IST_WITH_MPI the session refuses to start.
#include <cstdio>
#include <cstdlib>
#include <exception>

#if IST_WITH_MPI
#include <mpi.h>
#endif

#include "ist/core/error.hpp"

namespace ist::examples {

// True when an MPI launcher started this process (Open MPI, MPICH/Hydra, PMIx launchers such as srun).
inline bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (std::getenv(v)) return true;
  return false;
}

class MpiSession {
 public:
  // use: the workers are MPI ranks (--mpi, or launched_by_mpirun()). MPI is called from the main thread
  // only; MPI errors return codes (ist's checks turn them into exceptions).
  MpiSession(int& argc, char**& argv, bool use) : active_(use) {
#if IST_WITH_MPI
    if (active_) {
      int provided = 0;
      MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
      MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &ranks_);
    }
#else
    (void)argc;
    (void)argv;
#endif
  }
  ~MpiSession() {
#if IST_WITH_MPI
    if (active_) MPI_Finalize();
#endif
  }
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Throws when MPI is wanted but this program was built without it.
  void require_built_with_mpi(const char* program, bool forced) const {
#if !IST_WITH_MPI
    IST_CHECK(!active_, program, " was built without MPI (configure with IST_ENABLE_MPI=ON where MPI is installed), "
              "but ", forced ? "--mpi was given" : "it runs under an MPI launcher (mpirun)");
#else
    (void)program;
    (void)forced;
#endif
  }
  bool active() const { return active_; }
  // Waits until every rank is here (nothing without MPI).
  void barrier() const {
#if IST_WITH_MPI
    if (active_) IST_CHECK(MPI_Barrier(MPI_COMM_WORLD) == MPI_SUCCESS, "MPI_Barrier failed");
#endif
  }
  int rank() const { return rank_; }
  int ranks() const { return ranks_; }

  // Reports an error and returns the exit status; under MPI any rank's error ends the whole job
  // (MPI_Abort stops the ranks that wait for this one's messages).
  int fail(const char* program, const std::exception& e) const {
    if (active_) {
      std::fprintf(stderr, "%s: rank %d of %d: error: %s\n", program, rank_, ranks_, e.what());
      std::fflush(stderr);
#if IST_WITH_MPI
      MPI_Abort(MPI_COMM_WORLD, 1);
#endif
    } else {
      std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    }
    return 1;
  }

 private:
  bool active_ = false;
  int rank_ = 0, ranks_ = 1;
};

}  // namespace ist::examples
