#pragma once
// Errors and checks. Every misuse or malformed input throws ist::Error whose message starts with
// where it happened, then what was expected and what was found:
//   "ist::load_idx: /path/file.gz: expected magic 2051, found 0"
// Library code never calls exit() or abort().
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace ist {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << std::forward<Args>(args));
  return os.str();
}
}  // namespace detail

// Throws ist::Error with the pieces streamed together: fail("ist::f: ", path, ": expected ", a).
template <class... Args>
[[noreturn]] void fail(Args&&... args) {
  throw Error(detail::concat(std::forward<Args>(args)...));
}

}  // namespace ist

// IST_CHECK(cond, pieces...): throws ist::Error with the pieces when cond is false.
#define IST_CHECK(cond, ...)                 \
  do {                                       \
    if (!(cond)) ::ist::fail(__VA_ARGS__);   \
  } while (0)
