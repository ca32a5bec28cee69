#pragma once
// The Cora graph of ../shared/data/planetoid (IST_SHARED_DIR), loaded once per test program. A missing data
// set fails the test that needs it, naming the folder it looked in.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "ist/data/planetoid.hpp"

namespace ist::test_data {

inline const GraphDataset& cora() {
  static const GraphDataset g = [] {
    const std::string root = std::string(IST_SHARED_DIR) + "/data/planetoid";
    REQUIRE_MESSAGE(std::filesystem::exists(root + "/cora/meta.json"), "the Planetoid data is missing: expected ",
                    root);
    return load_planetoid(root, "cora");
  }();
  return g;
}

}  // namespace ist::test_data
