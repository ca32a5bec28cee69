// Linked into every benchmark built with IST_BENCHMARKS_COMPILE_CHECK=ON (the test command's build, at -O0):
// such a build only shows that the benchmarks compile and link, and its figures would be meaningless, so the
// program stops before main() and says how to build it for measuring.
#include <cstdio>
#include <cstdlib>

namespace {

struct CompileCheckGuard {
  CompileCheckGuard() {
    std::fprintf(stderr,
                 "this benchmark was built with IST_BENCHMARKS_COMPILE_CHECK=ON (at -O0, as a compile check of the "
                 "test command), so it does not run. Build it for measuring with scripts/run-benchmarks.sh (its "
                 "own Release build in build-bench), or configure with -DIST_BENCHMARKS_COMPILE_CHECK=OFF.\n");
    std::exit(2);
  }
};
const CompileCheckGuard guard;

}  // namespace
