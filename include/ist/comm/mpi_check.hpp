#pragma once
// IST_MPI_CHECK(call): every MPI call of the library goes through it. A failed call throws ist::Error naming
// the call, the file and line, this process's rank in MPI_COMM_WORLD and MPI's own error string:
//   "ist::mpi: MPI_Recv(...) failed at mpi_comm.hpp:180 on rank 2 of 4: MPI_ERR_TRUNCATE: message truncated"
// A call returns its error code only on a communicator whose error handler is MPI_ERRORS_RETURN (MpiComm sets
// it on its own communicator); under MPI's default, MPI_ERRORS_ARE_FATAL, MPI ends the job itself.
// Nothing here aborts.
#include <mpi.h>

#include <string>

#include "ist/core/error.hpp"

namespace ist::detail {

// MPI's description of an error code: "MPI_ERR_TRUNCATE: message truncated".
inline std::string mpi_error_text(int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) return concat("MPI error code ", code);
  int cls = code;
  char class_text[MPI_MAX_ERROR_STRING] = {};
  int class_len = 0;
  if (MPI_Error_class(code, &cls) == MPI_SUCCESS && cls != code &&
      MPI_Error_string(cls, class_text, &class_len) == MPI_SUCCESS)
    return concat(std::string(text, std::size_t(len)), " (class: ", std::string(class_text, std::size_t(class_len)),
                  ")");
  return std::string(text, std::size_t(len));
}

// "rank 2 of 4", or "" where MPI is not running (before MPI_Init, after MPI_Finalize).
inline std::string mpi_where() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) return {};
  int rank = -1, size = 0;
  if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS || MPI_Comm_size(MPI_COMM_WORLD, &size) != MPI_SUCCESS)
    return {};
  return concat(" on rank ", rank, " of ", size);
}

inline const char* mpi_file_name(const char* path) {
  const char* name = path;
  for (const char* p = path; *p; ++p)
    if (*p == '/' || *p == '\\') name = p + 1;
  return name;
}

[[noreturn]] inline void throw_mpi_error(const char* call, const char* file, int line, int code) {
  fail("ist::mpi: ", call, " failed at ", mpi_file_name(file), ":", line, mpi_where(), ": ", mpi_error_text(code));
}

}  // namespace ist::detail

#define IST_MPI_CHECK(call)                                                                            \
  do {                                                                                                 \
    const int ist_mpi_status_ = (call);                                                                \
    if (ist_mpi_status_ != MPI_SUCCESS)                                                                \
      ::ist::detail::throw_mpi_error(#call, __FILE__, __LINE__, ist_mpi_status_);                      \
  } while (0)
