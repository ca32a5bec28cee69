# Compiles SOURCE with CXX and the include flags in FLAGS (a ;-list); passes when compilation fails with
# exactly one error whose text contains EXPECT.
execute_process(COMMAND ${CXX} -std=c++20 -fsyntax-only ${FLAGS} ${SOURCE}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(APPEND out "${err}")
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not")
endif()
string(REGEX MATCHALL "error:" errors "${out}")
list(LENGTH errors n)
string(FIND "${out}" "${EXPECT}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "expected the message \"${EXPECT}\", found:\n${out}")
endif()
if(NOT n EQUAL 1)
  message(FATAL_ERROR "expected exactly one error, found ${n}:\n${out}")
endif()
message(STATUS "one error, naming the member: ${EXPECT}")
