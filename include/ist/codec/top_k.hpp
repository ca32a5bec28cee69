#pragma once
// TopK: the worker returns only the k largest-magnitude entries of its update (trained minus received
// values), as (index, value) pairs, with error feedback: what was not sent is added to the next update of
// the same parameters (Deep Gradient Compression; Stich et al., "Sparsified SGD with memory").
//
//   down (coordinator -> worker): the slice's values as raw float32 (the worker trains from the exact
//                                 master weights; a worker does not hold the values of last round's slice,
//                                 so there is nothing to send a difference against).
//   up (worker -> coordinator):   u32 n, u32 k, k x u32 index (strictly increasing, < n), k x f32 value;
//                                 8 + 8k bytes, k = top_k_count(n, fraction). The coordinator adds the
//                                 values to its FP32 master copy of the slice; entries not sent add zero.
//
// Selection (select_top_k) estimates the threshold in the spirit of Ok-Topk (Li & Hoefler, PPoPP 2022)
// instead of sorting: the quantile of a strided sample of |a| gives a threshold that should pass a little
// more than k entries; if fewer pass, the threshold is corrected downwards (a lower sample quantile, then
// zero); the k largest among those that pass are then picked with nth_element. The result is exactly the
// k largest under the order (|a| descending, index ascending; NaN counts as the largest): the same set a
// full sort would give, deterministic, in O(n) expected time.
//
// Error feedback (where residuals live: docs/codecs.md): the residual belongs to the worker and is kept
// per global parameter index, because the worker's slice changes every round. The trainer gathers the
// residual of this round's slice, encode_update adds it to the update, sends the top k of the sum and leaves
// the rest in the residual, and the trainer scatters it back. Entries of parameters outside this round's
// slice keep their residual until the worker holds them again.
#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "ist/codec/payload.hpp"
#include "ist/core/error.hpp"

namespace ist::codec {

// k for an update of n values and a fraction in (0, 1]: ceil(fraction * n), at least 1 (0 when n = 0).
inline std::size_t top_k_count(std::size_t n, double fraction) {
  IST_CHECK(fraction > 0.0 && fraction <= 1.0, "ist::codec::top_k_count: expected a fraction in (0, 1], found ",
            fraction);
  if (n == 0) return 0;
  const double k = std::ceil(fraction * double(n) - 1e-9 * double(n) * fraction);
  return std::clamp<std::size_t>(std::size_t(k), 1, n);
}

namespace detail {
inline float magnitude(float v) noexcept { return std::isnan(v) ? std::numeric_limits<float>::infinity() : std::fabs(v); }
}  // namespace detail

// The indices of the k entries of `a` with the largest magnitude (ties: the lower index first), ascending,
// into `out`. `scratch` is reused between calls.
inline void select_top_k(std::span<const float> a, std::size_t k, std::vector<std::uint32_t>& out,
                         std::vector<float>& scratch) {
  const std::size_t n = a.size();
  IST_CHECK(k <= n, "ist::codec::select_top_k: expected k <= n = ", n, ", found k = ", k);
  IST_CHECK(n <= std::numeric_limits<std::uint32_t>::max(), "ist::codec::select_top_k: expected at most 2^32 - 1 "
            "values, found ", n);
  out.clear();
  if (k == 0) return;
  if (k == n) {
    out.resize(n);
    for (std::size_t i = 0; i < n; ++i) out[i] = std::uint32_t(i);
    return;
  }
  // 1. Threshold estimate from a strided sample: the quantile that should pass about 1.25k + 8 entries.
  const std::size_t m = std::min<std::size_t>(n, 4096);
  scratch.resize(m);
  for (std::size_t i = 0; i < m; ++i) scratch[i] = detail::magnitude(a[i * n / m]);
  float threshold = 0.f;
  bool found = false;
  for (double target = 1.25 * double(k) + 8.0; !found; target *= 4.0) {
    if (target >= double(n)) {  // correction exhausted: every entry is a candidate
      threshold = -1.f;
    } else {
      const std::size_t passing = std::min<std::size_t>(m - 1, std::size_t(std::ceil(target * double(m) / double(n))));
      const std::size_t pos = m - 1 - passing;
      std::nth_element(scratch.begin(), scratch.begin() + std::ptrdiff_t(pos), scratch.end());
      threshold = scratch[pos];
    }
    // 2. Candidates: every entry at or above the threshold; at least k of them, or correct downwards.
    out.clear();
    for (std::size_t i = 0; i < n; ++i)
      if (detail::magnitude(a[i]) >= threshold) out.push_back(std::uint32_t(i));
    found = out.size() >= k || threshold < 0.f;
  }
  // 3. The exact k largest among the candidates (k-th largest >= threshold, so all of them are candidates).
  if (out.size() > k) {
    const auto larger = [&a](std::uint32_t i, std::uint32_t j) {
      const float mi = detail::magnitude(a[i]), mj = detail::magnitude(a[j]);
      return mi > mj || (mi == mj && i < j);
    };
    std::nth_element(out.begin(), out.begin() + std::ptrdiff_t(k - 1), out.end(), larger);
    out.resize(k);
  }
  std::sort(out.begin(), out.end());
}

// The TopK codec. fraction: k / n of every update, in (0, 1]; error_feedback: keep what was not sent.
struct TopK {
  double fraction = 0.1;
  bool error_feedback = true;

  std::string name() const {
    std::string f = std::to_string(fraction);  // "0.100000": trim the zeros
    while (f.size() > 1 && f.back() == '0') f.pop_back();
    if (!f.empty() && f.back() == '.') f.pop_back();
    return std::string("topk:") + f + (error_feedback ? "" : ":no-ef");
  }
  bool returns_update() const { return true; }
  bool keeps_residual() const { return error_feedback; }
  std::size_t values_bytes(std::size_t n) const { return n * 4; }
  std::size_t update_bytes(std::size_t n) const { return 8 + 8 * top_k_count(n, fraction); }

  void encode_values(std::span<const float> v, Bytes& out) const {
    out.resize(v.size() * 4);
    if (!v.empty()) std::memcpy(out.data(), v.data(), out.size());
  }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const {
    detail::check_size("ist::codec::TopK", "decode_values", v.size() * 4, in.size(),
                       std::to_string(v.size()) + " float32 values");
    if (!v.empty()) std::memcpy(v.data(), in.data(), in.size());
  }

  // u: the update; residual: empty, or as long as u: added to u first, and left holding what was not sent.
  void encode_update(std::span<const float> u, std::span<float> residual, Bytes& out) const {
    const std::size_t n = u.size();
    IST_CHECK(residual.empty() || residual.size() == n, "ist::codec::TopK::encode_update: expected a residual of ",
              n, " values (or none), found ", residual.size());
    IST_CHECK(n <= std::numeric_limits<std::uint32_t>::max(), "ist::codec::TopK::encode_update: expected at most "
              "2^32 - 1 values, found ", n);
    const std::size_t k = top_k_count(n, fraction);
    std::span<const float> a = u;
    thread_local std::vector<float> sum, scratch;
    thread_local std::vector<std::uint32_t> idx;
    if (!residual.empty()) {
      sum.resize(n);
      for (std::size_t i = 0; i < n; ++i) sum[i] = u[i] + residual[i];
      a = sum;
    }
    select_top_k(a, k, idx, scratch);
    out.resize(8 + 8 * k);
    detail::put<std::uint32_t>(out.data(), std::uint32_t(n));
    detail::put<std::uint32_t>(out.data() + 4, std::uint32_t(k));
    std::byte* at_idx = out.data() + 8;
    std::byte* at_val = at_idx + 4 * k;
    for (std::size_t j = 0; j < k; ++j) {
      detail::put<std::uint32_t>(at_idx + 4 * j, idx[j]);
      detail::put<float>(at_val + 4 * j, a[idx[j]]);
    }
    if (!residual.empty()) {
      std::copy(a.begin(), a.end(), residual.begin());
      for (std::uint32_t i : idx) residual[i] = 0.f;
    }
  }

  // Writes the dense update: the sent values at their indices, zero elsewhere. Throws on a payload that is
  // not exactly what encode_update writes for u.size() values.
  void decode_update(std::span<const std::byte> in, std::span<float> u) const {
    const char* who = "ist::codec::TopK::decode_update";
    const std::size_t n = u.size();
    const std::size_t k = top_k_count(n, fraction);
    IST_CHECK(in.size() >= 8, who, ": expected a payload of ", 8 + 8 * k, " bytes (an 8-byte header, then ", k,
              " indices and values), found ", in.size(), " bytes");
    const std::uint32_t hn = detail::get<std::uint32_t>(in.data());
    const std::uint32_t hk = detail::get<std::uint32_t>(in.data() + 4);
    IST_CHECK(hn == n, who, ": expected header n = ", n, " (the slice's length), found ", hn);
    IST_CHECK(hk == k, who, ": expected header k = ", k, " (", name(), " of ", n, " values), found ", hk);
    detail::check_size("ist::codec::TopK", "decode_update", 8 + 8 * k, in.size(),
                       "an 8-byte header, then " + std::to_string(k) + " indices and values");
    std::fill(u.begin(), u.end(), 0.f);
    const std::byte* at_idx = in.data() + 8;
    const std::byte* at_val = at_idx + 4 * k;
    std::int64_t previous = -1;
    for (std::size_t j = 0; j < k; ++j) {
      const std::uint32_t i = detail::get<std::uint32_t>(at_idx + 4 * j);
      IST_CHECK(std::int64_t(i) > previous && i < n, who, ": expected index ", j, " to be above ", previous,
                " and below n = ", n, " (strictly increasing), found ", i);
      u[i] = detail::get<float>(at_val + 4 * j);
      previous = i;
    }
  }
};

}  // namespace ist::codec
