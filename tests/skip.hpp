#pragma once
// IST_SKIP_TEST(reason): ends the current doctest test case as skipped: prints the line
// "SKIPPED: <reason> (<file>:<line>)" to stdout and returns. doctest 2.4 has no run-time skip, so ctest
// does the rest:
// - ist_tests (tests/CMakeLists.txt): doctest_discover_tests makes one ctest test per TEST_CASE, with
//   SKIP_REGULAR_EXPRESSION "SKIPPED: ", so ctest reports that test as skipped.
// - ist_gpu_tests, ist_mpi_tests (one ctest test per executable): their main exits with
//   ist::test::kSkipExitCode (ctest SKIP_RETURN_CODE) when every test that ran passed but some were skipped.
// Use it in the body of a TEST_CASE (outside SUBCASEs), e.g. when a data set or a device is missing, and,
// in ist_tests, before the test case's first assertion: ctest reports a test whose output holds the marker
// as skipped even if an assertion failed. The mains of the other executables report skipped only when
// nothing failed.
#include <atomic>
#include <cstdio>
#include <string>

namespace ist::test {

inline constexpr int kSkipExitCode = 77;  // the Automake / ctest convention for "skipped"

// Test cases skipped so far in this process.
inline std::atomic<int>& skipped_tests() {
  static std::atomic<int> count{0};
  return count;
}

inline void report_skip(const std::string& reason, const char* file, int line) {
  std::printf("SKIPPED: %s (%s:%d)\n", reason.c_str(), file, line);
  std::fflush(stdout);
  ++skipped_tests();
}

}  // namespace ist::test

#define IST_SKIP_TEST(reason)                                    \
  do {                                                           \
    ::ist::test::report_skip((reason), __FILE__, __LINE__);      \
    return;                                                      \
  } while (0)
