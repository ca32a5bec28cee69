# ist_nvidia_wheel_dirs(<out-var>)
#
# Sets <out-var> to the `nvidia/` folders of python3's site-packages, where pip's NVIDIA wheels
# (nvidia-cudnn-cu12, nvidia-nccl-cu12, ...) put their libraries: <dir>/cudnn/{include,lib},
# <dir>/nccl/{include,lib}. Empty when there is no python3 or no such wheel; never fails.
# The interpreter is Python3_EXECUTABLE if set, else python3 on PATH. The result is cached in
# IST_NVIDIA_WHEEL_DIRS (clear it to search again).
function(ist_nvidia_wheel_dirs out)
  if(DEFINED IST_NVIDIA_WHEEL_DIRS)
    set(${out} "${IST_NVIDIA_WHEEL_DIRS}" PARENT_SCOPE)
    return()
  endif()
  set(dirs "")
  set(python "${Python3_EXECUTABLE}")
  if(NOT python)
    find_program(IST_PYTHON3_EXECUTABLE NAMES python3 python)
    set(python "${IST_PYTHON3_EXECUTABLE}")
  endif()
  if(python)
    execute_process(
      COMMAND "${python}" -c "import os, nvidia; print(';'.join(os.path.realpath(p) for p in nvidia.__path__))"
      RESULT_VARIABLE rc OUTPUT_VARIABLE found ERROR_QUIET OUTPUT_STRIP_TRAILING_WHITESPACE TIMEOUT 60)
    if(rc EQUAL 0 AND found)
      set(dirs "${found}")
    endif()
  endif()
  set(IST_NVIDIA_WHEEL_DIRS "${dirs}" CACHE INTERNAL "nvidia/ folders of python3's site-packages")
  set(${out} "${dirs}" PARENT_SCOPE)
endfunction()
