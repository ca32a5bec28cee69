#pragma once
// The message of an expected ist::Error, for tests that check what an error says.
#include <doctest/doctest.h>

#include <string>

#include "ist/core/error.hpp"

namespace ist::test {

// Runs f, which must throw ist::Error, and returns the message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ist::Error& e) {
    return e.what();
  }
  FAIL("expected ist::Error, nothing was thrown");
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace ist::test
