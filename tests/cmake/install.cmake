# Installs ist from BUILD_DIR into a fresh PREFIX (the packaging tests' fixture).
#   cmake -DBUILD_DIR=<build> -DPREFIX=<prefix> [-DCONFIG=<config>] -P install.cmake
foreach(var BUILD_DIR PREFIX)
  if(NOT ${var})
    message(FATAL_ERROR "install.cmake: expected -D${var}=..., found nothing")
  endif()
endforeach()
file(REMOVE_RECURSE "${PREFIX}")  # no headers left over from an earlier layout
set(config_args)
if(CONFIG)
  set(config_args --config "${CONFIG}")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --install "${BUILD_DIR}" --prefix "${PREFIX}" ${config_args}
  COMMAND_ERROR_IS_FATAL ANY)
