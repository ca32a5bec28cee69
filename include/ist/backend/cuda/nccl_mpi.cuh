#pragma once
// nccl_comm_from_mpi: an ist::cuda::NcclComm for every rank of an MPI communicator, one GPU each. Rank 0
// makes the NCCL id and MPI_Bcast shares it (works across nodes); each rank takes GPU
// (its rank among the ranks on its node) % (GPUs on the node) unless `device` is given.
//
//   MPI_Init(&argc, &argv);
//   ist::CudaBackend<ist::cuda::NcclComm> backend(ist::cuda::nccl_comm_from_mpi(MPI_COMM_WORLD));
//
// Needs MPI (ist::mpi) and NCCL (ist::nccl).
#include <mpi.h>

#include "ist/backend/cuda/nccl_comm.cuh"
#include "ist/comm/mpi_check.hpp"

namespace ist::cuda {

inline NcclComm nccl_comm_from_mpi(MPI_Comm world, int device = -1) {
  int rank = 0, size = 0;
  IST_MPI_CHECK(MPI_Comm_rank(world, &rank));
  IST_MPI_CHECK(MPI_Comm_size(world, &size));
  if (device < 0) {
    MPI_Comm node;
    IST_MPI_CHECK(MPI_Comm_split_type(world, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node));
    int local = 0;
    IST_MPI_CHECK(MPI_Comm_rank(node, &local));
    IST_MPI_CHECK(MPI_Comm_free(&node));
    const int gpus = detail::device_count();
    IST_CHECK(gpus > 0, "ist::cuda::nccl_comm_from_mpi: rank ", rank, " of ", size, ": no CUDA device on this node");
    device = local % gpus;
  }
  ncclUniqueId id{};
  if (rank == 0) id = NcclComm::unique_id();
  IST_MPI_CHECK(MPI_Bcast(&id, int(sizeof(id)), MPI_BYTE, 0, world));
  return NcclComm(id, rank, size, device);
}

}  // namespace ist::cuda
