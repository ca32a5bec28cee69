#pragma once
// ParamLayout: where each block's parameters live in a buffer. The global model uses the full layout
// (the compile-time offsets); a worker's sub-network uses a compact layout that packs only its active
// blocks, in model order. Networks read parameters through a layout, so running a sub-network never
// copies the full model: either point a full layout at the global buffer with some blocks inactive, or
// give the worker a compact buffer of just its blocks.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/model/model_desc.hpp"

namespace ist {

class ParamLayout {
 public:
  static constexpr std::size_t absent = ~std::size_t{0};

  ParamLayout() = default;

  // All blocks at their compile-time offsets.
  template <class Model>
  static ParamLayout full() {
    ParamLayout L;
    for (const auto& b : Model::blocks) L.offsets_.push_back(b.param_offset);
    L.size_ = Model::num_params;
    return L;
  }

  // Only blocks with active[b] != 0, packed in model order. active.size() must be Model::num_blocks.
  template <class Model>
  static ParamLayout compact(std::span<const std::uint8_t> active) {
    IST_CHECK(active.size() == std::size_t(Model::num_blocks), "ist::ParamLayout::compact: expected ",
              Model::num_blocks, " block flags, found ", active.size());
    ParamLayout L;
    std::size_t off = 0;
    for (std::size_t b = 0; b < active.size(); ++b) {
      if (active[b]) {
        L.offsets_.push_back(off);
        off += Model::blocks[b].param_count;
      } else {
        L.offsets_.push_back(absent);
      }
    }
    L.size_ = off;
    return L;
  }

  // Blocks at the given offsets (`absent` for a block not held) in a buffer of `size` values: for model
  // families whose compact blocks are not whole blocks (width-wise cuts of ist::Mlp and ist::Gcn).
  static ParamLayout from_offsets(std::vector<std::size_t> offsets, std::size_t size) {
    for (std::size_t b = 0; b < offsets.size(); ++b)
      IST_CHECK(offsets[b] == absent || offsets[b] <= size, "ist::ParamLayout::from_offsets: block ", b,
                " starts at ", offsets[b], ", past the buffer's ", size, " values");
    ParamLayout L;
    L.offsets_ = std::move(offsets);
    L.size_ = size;
    return L;
  }

  bool has(int block) const { return offsets_.at(std::size_t(block)) != absent; }
  std::size_t block_offset(int block) const { return offsets_.at(std::size_t(block)); }
  std::size_t size() const noexcept { return size_; }  // buffer length this layout needs
  int num_blocks() const noexcept { return int(offsets_.size()); }

 private:
  std::vector<std::size_t> offsets_;
  std::size_t size_ = 0;
};

}  // namespace ist
