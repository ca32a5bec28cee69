#pragma once
// Width-wise slices of a chain of fully connected layers (ist::Mlp, ist::Gcn, ist::Sage): how a SubnetSpec's
// kept units become TensorSlices and the compact layout that matches them.
//
// For hidden layer l keeping units K_l (empty = all) after a layer keeping K_{l-1} (the input: all):
//   weight [U_l, c U_{l-1}]  rows K_l, columns K_{l-1} (c = 1), or K_{l-1} and K_{l-1} + U_{l-1} (c = 2)
//   per-unit vectors [U_l]   (a hidden bias, norm scale and shift) rows K_l
// and for the classifier: weight [C, c U_last] all rows, the columns as above; bias [C] whole (shared by all).
//
//            columns: units of layer l-1
//            c0 c1 c2 c3 c4 c5
//   row u0 [ .  .  .  .  .  . ]      worker 0 keeps units {u1, u3} of layer l and {c0, c4} of layer l-1:
//   row u1 [ X  .  .  .  X  . ]      its compact W_l is the 2 x 2 matrix of the X entries,
//   row u2 [ .  .  .  .  .  . ]      [[W(u1,c0), W(u1,c4)], [W(u3,c0), W(u3,c4)]], row-major.
//   row u3 [ X  .  .  .  X  . ]
//
// With c = 2 (ChainParts::input_copies; GraphSAGE's W [U_l, 2 U_{l-1}] over [h ‖ mean of neighbours of h])
// an input unit j owns two columns, j and j + U_{l-1}. The worker above then keeps columns
// {c0, c4, c0 + 6, c4 + 6}: its compact W_l is 2 x 4, [W_self | W_neighbours] of its units, which is the weight
// of its sub-network's own concatenation [h_K ‖ mean of neighbours of h_K].
#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "ist/core/error.hpp"
#include "ist/decompose/plan.hpp"
#include "ist/decompose/slices.hpp"
#include "ist/model/dense_chain.hpp"
#include "ist/model/param_layout.hpp"
#include "ist/model/model_desc.hpp"

namespace ist::detail {

// Kept-unit count of a list over `units` (empty = all).
inline int kept_count(const std::vector<int>& kept, int units) { return kept.empty() ? units : int(kept.size()); }

// The kept widths of a chain model's hidden layers under `spec`.
inline std::vector<int> chain_kept_widths(const ChainDesc& c, const SubnetSpec& spec, const char* who) {
  const int hidden = c.shape.num_hidden;
  IST_CHECK(spec.kept_units.size() == std::size_t(hidden), who, ": expected ", hidden,
            " unit lists (one per hidden layer), found ", spec.kept_units.size());
  std::vector<int> w(static_cast<std::size_t>(hidden));
  for (std::size_t l = 0; l < w.size(); ++l) w[l] = kept_count(spec.kept_units[l], c.widths[l + 1]);
  return w;
}
template <class Model>
std::vector<int> chain_kept_widths(const SubnetSpec& spec, const char* who) {
  return chain_kept_widths(chain_desc<Model>(), spec, who);
}

// The weight columns of a layer whose input keeps `kept` of its `units` (empty = all), each input unit
// owning `copies` columns: j, j + units, ... (ascending, as TensorSlice wants).
inline std::vector<int> input_columns(const std::vector<int>& kept, int units, int copies) {
  std::vector<int> cols;
  if (kept.empty()) return cols;  // all
  cols.reserve(kept.size() * std::size_t(copies));
  for (int c = 0; c < copies; ++c)
    for (int j : kept) cols.push_back(c * units + j);
  return cols;
}

// The slices of a chain model under `spec`, in block order and, inside a block, tensor order.
inline SliceSet chain_slices(const ChainDesc& c, const SubnetSpec& spec, const char* who) {
  (void)chain_kept_widths(c, spec, who);  // checks the number of lists
  static const std::vector<int> all;
  const int layers = c.shape.num_layers, hidden = c.shape.num_hidden;
  SliceSet set;
  for (int l = 0; l < layers; ++l) {
    const BlockDesc& b = c.blocks[std::size_t(l)];
    const std::vector<int>& rows = l < hidden ? spec.kept_units[std::size_t(l)] : all;
    const std::vector<int> cols =
        l > 0 ? input_columns(spec.kept_units[std::size_t(l - 1)], b.in_channels, c.input_copies) : std::vector<int>{};
    for (int t = b.first_tensor; t < b.first_tensor + b.num_tensors; ++t) {
      const TensorDesc& d = c.tensors[std::size_t(t)];
      TensorSlice s;
      s.offset = d.offset;
      if (d.role == TensorRole::LinearWeight) {
        s.num_rows = d.shape[0];
        s.num_cols = d.shape[1];
        s.rows = rows;
        s.cols = cols;
      } else if (d.role == TensorRole::LinearBias && l == layers - 1) {
        s.num_rows = 1;  // the classifier's bias: whole, shared
        s.num_cols = int(d.size);
      } else {  // a per-unit vector of a hidden layer
        s.num_rows = int(d.size);
        s.num_cols = 1;
        s.rows = rows;
      }
      set.slices.push_back(std::move(s));
    }
  }
  return set;
}
template <class Model>
SliceSet chain_slices(const SubnetSpec& spec, const char* who) {
  return chain_slices(chain_desc<Model>(), spec, who);
}

// Compact layout matching chain_slices(spec): each block's kept tensors packed in model order.
inline ParamLayout chain_layout(const ChainDesc& c, const SubnetSpec& spec, const char* who) {
  const std::vector<int> kept = chain_kept_widths(c, spec, who);
  const int layers = c.shape.num_layers, hidden = c.shape.num_hidden;
  std::vector<std::size_t> offsets;
  std::size_t off = 0;
  for (int l = 0; l < layers; ++l) {
    offsets.push_back(off);
    const BlockDesc& b = c.blocks[std::size_t(l)];
    const std::size_t out = l < hidden ? std::size_t(kept[std::size_t(l)]) : std::size_t(b.out_channels);
    const std::size_t in = std::size_t(c.input_copies) *
                           (l > 0 ? std::size_t(kept[std::size_t(l - 1)]) : std::size_t(b.in_channels));
    for (int t = b.first_tensor; t < b.first_tensor + b.num_tensors; ++t) {
      const TensorDesc& d = c.tensors[std::size_t(t)];
      off += d.role == TensorRole::LinearWeight ? out * in : (l < hidden ? out : d.size);
    }
  }
  return ParamLayout::from_offsets(std::move(offsets), off);
}
template <class Model>
ParamLayout chain_layout(const SubnetSpec& spec, const char* who) {
  return chain_layout(chain_desc<Model>(), spec, who);
}

}  // namespace ist::detail
