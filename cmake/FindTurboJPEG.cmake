# FindTurboJPEG: libjpeg-turbo's TurboJPEG library (turbojpeg.h, libturbojpeg), used by ist's image-folder
# reader (include/ist/data/image_folder.hpp). Debian: libturbojpeg0-dev.
#
# Not libjpeg-turbo's own CMake config: Debian's lists the static libraries of two packages
# (libturbojpeg.a and, from libjpeg62-turbo-dev, libjpeg.a), and a missing one is a fatal configure error
# that QUIET does not silence. The header and the shared library are all this needs.
#
# Searched: TurboJPEG_ROOT (CMake or environment variable), TurboJPEG_INCLUDE_DIR / TurboJPEG_LIBRARY if set,
# the folders pkg-config reports for libturbojpeg (when pkg-config is there), then the system.
#
# Result: TurboJPEG_FOUND, TurboJPEG_VERSION (from pkg-config, else unset), TurboJPEG_INCLUDE_DIRS,
# TurboJPEG_LIBRARIES, and the imported target TurboJPEG::TurboJPEG.
include(FindPackageHandleStandardArgs)

set(_turbojpeg_include_hints)
set(_turbojpeg_library_hints)
find_package(PkgConfig QUIET)
if(PKG_CONFIG_FOUND)
  pkg_check_modules(_turbojpeg_pc QUIET libturbojpeg)
  set(_turbojpeg_include_hints ${_turbojpeg_pc_INCLUDE_DIRS})
  set(_turbojpeg_library_hints ${_turbojpeg_pc_LIBRARY_DIRS})
  if(_turbojpeg_pc_VERSION)
    set(TurboJPEG_VERSION "${_turbojpeg_pc_VERSION}")
  endif()
endif()

find_path(TurboJPEG_INCLUDE_DIR turbojpeg.h
  HINTS ${TurboJPEG_ROOT} $ENV{TurboJPEG_ROOT} ${_turbojpeg_include_hints}
  PATH_SUFFIXES include)
find_library(TurboJPEG_LIBRARY NAMES turbojpeg
  HINTS ${TurboJPEG_ROOT} $ENV{TurboJPEG_ROOT} ${_turbojpeg_library_hints}
  PATH_SUFFIXES lib lib64)

find_package_handle_standard_args(TurboJPEG REQUIRED_VARS TurboJPEG_LIBRARY TurboJPEG_INCLUDE_DIR
  VERSION_VAR TurboJPEG_VERSION)

if(TurboJPEG_FOUND)
  set(TurboJPEG_INCLUDE_DIRS "${TurboJPEG_INCLUDE_DIR}")
  set(TurboJPEG_LIBRARIES "${TurboJPEG_LIBRARY}")
  if(NOT TARGET TurboJPEG::TurboJPEG)
    add_library(TurboJPEG::TurboJPEG UNKNOWN IMPORTED)
    set_target_properties(TurboJPEG::TurboJPEG PROPERTIES
      IMPORTED_LOCATION "${TurboJPEG_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${TurboJPEG_INCLUDE_DIR}")
  endif()
endif()
mark_as_advanced(TurboJPEG_INCLUDE_DIR TurboJPEG_LIBRARY)
