# FindMETIS: the METIS graph partitioner (metis.h, libmetis), used by ist's Cluster-GCN batches
# (include/ist/data/graph_partition.hpp). Debian: libmetis-dev. METIS ships no CMake config of its own.
#
# Searched: METIS_ROOT (CMake or environment variable), METIS_INCLUDE_DIR / METIS_LIBRARY if set, then the
# system.
#
# Result: METIS_FOUND, METIS_INCLUDE_DIRS, METIS_LIBRARIES, and the imported target METIS::METIS.
include(FindPackageHandleStandardArgs)

find_path(METIS_INCLUDE_DIR metis.h
  HINTS ${METIS_ROOT} $ENV{METIS_ROOT}
  PATH_SUFFIXES include)
find_library(METIS_LIBRARY NAMES metis
  HINTS ${METIS_ROOT} $ENV{METIS_ROOT}
  PATH_SUFFIXES lib lib64)

find_package_handle_standard_args(METIS REQUIRED_VARS METIS_LIBRARY METIS_INCLUDE_DIR)

if(METIS_FOUND)
  set(METIS_INCLUDE_DIRS "${METIS_INCLUDE_DIR}")
  set(METIS_LIBRARIES "${METIS_LIBRARY}")
  if(NOT TARGET METIS::METIS)
    add_library(METIS::METIS UNKNOWN IMPORTED)
    set_target_properties(METIS::METIS PROPERTIES
      IMPORTED_LOCATION "${METIS_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${METIS_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(METIS_INCLUDE_DIR METIS_LIBRARY)
