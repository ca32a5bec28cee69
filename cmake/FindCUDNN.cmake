# FindCUDNN: the cuDNN library (https://developer.nvidia.com/cudnn).
#
# Searched, in order: CUDNN_ROOT (CMake or environment variable), CUDNN_INCLUDE_DIR / CUDNN_LIBRARY if
# set, the CUDA toolkit (CUDAToolkit_ROOT, CUDA_PATH, the folder of CMAKE_CUDA_COMPILER), the system
# (e.g. /usr/include/x86_64-linux-gnu + /usr/lib/x86_64-linux-gnu from Debian/Ubuntu packages), and last
# python3's pip wheels (site-packages/nvidia/cudnn/{include,lib}, as installed with PyTorch). The library
# is looked for next to the header first, so both come from the same installation.
#
# Result: CUDNN_FOUND, CUDNN_VERSION, CUDNN_INCLUDE_DIRS, CUDNN_LIBRARIES, CUDNN_LIBRARY_DIR (for
# LD_LIBRARY_PATH: cuDNN 9 loads its sub-libraries from there at run time), and the imported target
# CUDNN::cudnn.
include(FindPackageHandleStandardArgs)
include(${CMAKE_CURRENT_LIST_DIR}/IstNvidiaWheels.cmake)

set(_cudnn_roots ${CUDNN_ROOT} $ENV{CUDNN_ROOT} $ENV{CUDNN_HOME} ${CUDAToolkit_ROOT} $ENV{CUDAToolkit_ROOT}
    $ENV{CUDA_PATH})
if(CMAKE_CUDA_COMPILER)
  get_filename_component(_cudnn_nvcc_dir "${CMAKE_CUDA_COMPILER}" DIRECTORY)
  get_filename_component(_cudnn_toolkit "${_cudnn_nvcc_dir}" DIRECTORY)
  list(APPEND _cudnn_roots "${_cudnn_toolkit}")
endif()
list(APPEND _cudnn_roots /usr/local/cuda)
ist_nvidia_wheel_dirs(_cudnn_wheels)
set(_cudnn_wheel_roots)
foreach(dir IN LISTS _cudnn_wheels)
  list(APPEND _cudnn_wheel_roots "${dir}/cudnn")
endforeach()

find_path(CUDNN_INCLUDE_DIR cudnn.h
  HINTS ${_cudnn_roots}
  PATH_SUFFIXES include include/x86_64-linux-gnu include/aarch64-linux-gnu targets/x86_64-linux/include
  PATHS ${_cudnn_wheel_roots})

# The library next to the header first (<root>/include -> <root>/lib; Debian's multiarch include
# folder -> the multiarch lib folder), then the same places as the header.
set(_cudnn_lib_hints)
if(CUDNN_INCLUDE_DIR)
  get_filename_component(_cudnn_parent "${CUDNN_INCLUDE_DIR}" DIRECTORY)
  get_filename_component(_cudnn_arch "${CUDNN_INCLUDE_DIR}" NAME)
  list(APPEND _cudnn_lib_hints "${_cudnn_parent}")
  if(_cudnn_arch MATCHES "linux-gnu$")
    get_filename_component(_cudnn_grandparent "${_cudnn_parent}" DIRECTORY)
    list(APPEND _cudnn_lib_hints "${_cudnn_grandparent}/lib/${_cudnn_arch}")
  endif()
endif()
find_library(CUDNN_LIBRARY
  NAMES cudnn libcudnn.so.9 libcudnn.so.8 NAMES_PER_DIR
  HINTS ${_cudnn_lib_hints} ${_cudnn_roots}
  PATH_SUFFIXES lib lib64 lib/x64 lib/x86_64-linux-gnu lib/aarch64-linux-gnu targets/x86_64-linux/lib
  PATHS ${_cudnn_wheel_roots})

if(CUDNN_INCLUDE_DIR)
  set(_cudnn_version_header "${CUDNN_INCLUDE_DIR}/cudnn_version.h")
  if(NOT EXISTS "${_cudnn_version_header}")
    set(_cudnn_version_header "${CUDNN_INCLUDE_DIR}/cudnn.h")
  endif()
  file(STRINGS "${_cudnn_version_header}" _cudnn_defines REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
  foreach(part MAJOR MINOR PATCHLEVEL)
    string(REGEX MATCH "CUDNN_${part} +([0-9]+)" _m "${_cudnn_defines}")
    set(CUDNN_VERSION_${part} "${CMAKE_MATCH_1}")
  endforeach()
  if(NOT CUDNN_VERSION_MAJOR STREQUAL "")
    set(CUDNN_VERSION "${CUDNN_VERSION_MAJOR}.${CUDNN_VERSION_MINOR}.${CUDNN_VERSION_PATCHLEVEL}")
  endif()
endif()

find_package_handle_standard_args(CUDNN REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND)
  set(CUDNN_INCLUDE_DIRS "${CUDNN_INCLUDE_DIR}")
  set(CUDNN_LIBRARIES "${CUDNN_LIBRARY}")
  get_filename_component(_cudnn_real "${CUDNN_LIBRARY}" REALPATH)
  get_filename_component(CUDNN_LIBRARY_DIR "${_cudnn_real}" DIRECTORY)
  if(NOT TARGET CUDNN::cudnn)
    add_library(CUDNN::cudnn UNKNOWN IMPORTED)
    set_target_properties(CUDNN::cudnn PROPERTIES
      IMPORTED_LOCATION "${CUDNN_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${CUDNN_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
