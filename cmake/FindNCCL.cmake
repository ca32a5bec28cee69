# FindNCCL: the NCCL library (https://github.com/NVIDIA/nccl).
#
# Searched, in order: NCCL_ROOT (CMake or environment variable), NCCL_INCLUDE_DIR / NCCL_LIBRARY if set,
# the CUDA toolkit (CUDAToolkit_ROOT, CUDA_PATH, the folder of CMAKE_CUDA_COMPILER), the system, and last
# python3's pip wheels (site-packages/nvidia/nccl/{include,lib}). The library is looked for next to the
# header first.
#
# Result: NCCL_FOUND, NCCL_VERSION, NCCL_INCLUDE_DIRS, NCCL_LIBRARIES, NCCL_LIBRARY_DIR and the imported
# target NCCL::nccl.
include(FindPackageHandleStandardArgs)
include(${CMAKE_CURRENT_LIST_DIR}/IstNvidiaWheels.cmake)

set(_nccl_roots ${NCCL_ROOT} $ENV{NCCL_ROOT} $ENV{NCCL_HOME} ${CUDAToolkit_ROOT} $ENV{CUDAToolkit_ROOT} $ENV{CUDA_PATH})
if(CMAKE_CUDA_COMPILER)
  get_filename_component(_nccl_nvcc_dir "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_nccl_toolkit "${_nccl_nvcc_dir}" DIRECTORY)
  list(APPEND _nccl_roots "${_nccl_toolkit}")
endif()
list(APPEND _nccl_roots /usr/local/cuda)
ist_nvidia_wheel_dirs(_nccl_wheels)
set(_nccl_wheel_roots)
foreach(dir IN LISTS _nccl_wheels)
  list(APPEND _nccl_wheel_roots "${dir}/nccl")
endforeach()

find_path(NCCL_INCLUDE_DIR nccl.h
  HINTS ${_nccl_roots}
  PATH_SUFFIXES include include/x86_64-linux-gnu targets/x86_64-linux/include
  PATHS ${_nccl_wheel_roots})
set(_nccl_lib_hints)
if(NCCL_INCLUDE_DIR)
  get_filename_component(_nccl_parent "${NCCL_INCLUDE_DIR}" DIRECTORY)
  list(APPEND _nccl_lib_hints "${_nccl_parent}")
endif()
find_library(NCCL_LIBRARY
  NAMES nccl libnccl.so.2 NAMES_PER_DIR
  HINTS ${_nccl_lib_hints} ${_nccl_roots}
  PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu targets/x86_64-linux/lib
  PATHS ${_nccl_wheel_roots})

if(NCCL_INCLUDE_DIR)
  file(STRINGS "${NCCL_INCLUDE_DIR}/nccl.h" _nccl_defines REGEX "^#define NCCL_(MAJOR|MINOR|PATCH) +[0-9]+")
  foreach(part MAJOR MINOR PATCH)
    string(REGEX MATCH "NCCL_${part} +([0-9]+)" _m "${_nccl_defines}")
    set(NCCL_VERSION_${part} "${CMAKE_MATCH_1}")
  endforeach()
  if(NOT NCCL_VERSION_MAJOR STREQUAL "")
    set(NCCL_VERSION "${NCCL_VERSION_MAJOR}.${NCCL_VERSION_MINOR}.${NCCL_VERSION_PATCH}")
  endif()
endif()

find_package_handle_standard_args(NCCL REQUIRED_VARS NCCL_LIBRARY NCCL_INCLUDE_DIR VERSION_VAR NCCL_VERSION)

if(NCCL_FOUND)
  set(NCCL_INCLUDE_DIRS "${NCCL_INCLUDE_DIR}")
  set(NCCL_LIBRARIES "${NCCL_LIBRARY}")
  get_filename_component(_nccl_real "${NCCL_LIBRARY}" REALPATH)
  get_filename_component(NCCL_LIBRARY_DIR "${_nccl_real}" DIRECTORY)
  if(NOT TARGET NCCL::nccl)
    add_library(NCCL::nccl UNKNOWN IMPORTED)
    set_target_properties(NCCL::nccl PROPERTIES
      IMPORTED_LOCATION "${NCCL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${NCCL_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(NCCL_INCLUDE_DIR NCCL_LIBRARY)
