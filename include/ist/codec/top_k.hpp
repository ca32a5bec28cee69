#pragma once
// TopK: the worker returns only the k largest-magnitude entries of its update (trained minus received
// values), as (index, value) pairs, with error feedback: what was not sent is added to the next update of
// the same parameters (Deep Gradient Compression; Stich et al., "Sparsified SGD with memory").
//
//   down (coordinator -> worker): the slice's values as Int8Blocks (int8 with a float32 scale per 64
//                                 values: 4 ceil(n/64) + n bytes), or as raw float32 with ":f32-down". A
//                                 worker does not hold the values of last round's slice, so there is nothing
//                                 to send a difference against; it takes its update against the values it
//                                 decoded, so the downlink's rounding never reaches the master weights.
//   up (worker -> coordinator):   u32 n, u32 k, the indices, k x bf16 value (in index order). The indices
//                                 are a bitmap of n bits (LSB first; bits at and above n zero) when that is
//                                 smaller than k u32 indices, i.e. when k > n / 32, else k x u32 (strictly
//                                 increasing, < n); none when k = n (every entry, in order).
//                                 k = top_k_count(n, fraction). The coordinator adds the values to its FP32
//                                 master copy of the slice; entries not sent add zero.
//                                 With error feedback the bf16 rounding of a sent value stays in the residual.
//
// At k = 10%: 1.0625n + (8 + n/8 + 0.2n) bytes against float32's 8n, about 0.17x.
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
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "ist/codec/half.hpp"
#include "ist/codec/int8_blocks.hpp"
#include "ist/codec/payload.hpp"
#include "ist/codec/value_codecs.hpp"
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

// How TopK sends the values a worker trains from (coordinator -> worker).
enum class Downlink {
  Int8,     // Int8Blocks: int8 with a float32 scale per 64 values, about 0.27x float32's bytes (the default)
  Float32,  // the exact master values, 4 bytes each (":f32-down")
};

// Bytes of the index section of a top-k update of k entries out of n: a bitmap of n bits when that is
// smaller than k u32 indices (k > n / 32), else the k indices.
// With k = n every entry travels, in order, and there is no index section.
inline bool top_k_uses_bitmap(std::size_t n, std::size_t k) noexcept { return k < n && (n + 7) / 8 < 4 * k; }
inline std::size_t top_k_index_bytes(std::size_t n, std::size_t k) noexcept {
  return k == n ? 0 : top_k_uses_bitmap(n, k) ? (n + 7) / 8 : 4 * k;
}

// The TopK codec. fraction: k / n of every update, in (0, 1]; error_feedback: keep what was not sent;
// downlink: how the values travel down. Two rounds of a run may send every entry of the update instead
// (k = n, bf16, no index section; dense()):
//   warmup_first_round (":warmup"): the run's first round, whose update from the initial weights is the
//     largest (the shortest form of Deep Gradient Compression's warm-up): top-k would hold most of it back;
//   flush_last_round (":flush"): the run's last round, so that no computed update is left unsent at the end.
struct TopK {
  double fraction = 0.1;
  bool error_feedback = true;
  Downlink downlink = Downlink::Int8;
  bool warmup_first_round = false;
  bool flush_last_round = false;

  // Whether round `round` (0-based) of a run of `rounds` rounds sends every entry.
  bool dense_round(std::uint64_t round, std::uint64_t rounds) const {
    return (warmup_first_round && round == 0) || (flush_last_round && round + 1 == rounds);
  }
  // This codec with k = n: every entry, no index section (the codec of a dense round).
  TopK dense() const {
    TopK t = *this;
    t.fraction = 1.0;
    t.warmup_first_round = t.flush_last_round = false;
    return t;
  }

  std::string name() const {
    std::string f = std::to_string(fraction);  // "0.100000": trim the zeros
    while (f.size() > 1 && f.back() == '0') f.pop_back();
    if (!f.empty() && f.back() == '.') f.pop_back();
    return std::string("topk:") + f + (error_feedback ? "" : ":no-ef") +
           (downlink == Downlink::Float32 ? ":f32-down" : "") + (warmup_first_round ? ":warmup" : "") +
           (flush_last_round ? ":flush" : "");
  }
  bool returns_update() const { return true; }
  bool keeps_residual() const { return error_feedback; }
  std::size_t values_bytes(std::size_t n) const {
    return downlink == Downlink::Float32 ? n * 4 : detail::Int8Blocks::bytes(n);
  }
  std::size_t update_bytes(std::size_t n) const {
    const std::size_t k = top_k_count(n, fraction);
    return 8 + top_k_index_bytes(n, k) + 2 * k;
  }

  void encode_values(std::span<const float> v, Bytes& out) const {
    if (downlink == Downlink::Int8) return detail::Int8Blocks::encode("ist::codec::TopK::encode_values", v, out);
    detail::Float32Values::encode(v, out);
  }
  void decode_values(std::span<const std::byte> in, std::span<float> v) const {
    if (downlink == Downlink::Int8) return detail::Int8Blocks::decode("ist::codec::TopK::decode_values", in, v);
    detail::Float32Values::decode("ist::codec::TopK", "decode_values", in, v);
  }

  // u: the update; residual: empty, or as long as u: added to u first, and left holding what was not sent
  // (the entries not selected, and the bf16 rounding of those that were).
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
    const std::size_t index_bytes = top_k_index_bytes(n, k);
    out.assign(8 + index_bytes + 2 * k, std::byte{0});
    detail::put<std::uint32_t>(out.data(), std::uint32_t(n));
    detail::put<std::uint32_t>(out.data() + 4, std::uint32_t(k));
    std::byte* at_idx = out.data() + 8;
    std::byte* at_val = at_idx + index_bytes;
    const bool bitmap = top_k_uses_bitmap(n, k);
    for (std::size_t j = 0; j < k; ++j) {
      const std::uint32_t i = idx[j];
      if (bitmap)
        at_idx[i / 8] |= std::byte(std::uint8_t(1u << (i % 8)));
      else if (index_bytes > 0)
        detail::put<std::uint32_t>(at_idx + 4 * j, i);
      detail::put<std::uint16_t>(at_val + 2 * j, float_to_bf16(a[i]));
    }
    if (!residual.empty()) {
      std::copy(a.begin(), a.end(), residual.begin());
      for (std::uint32_t i : idx) {
        const float sent = bf16_to_float(float_to_bf16(a[i]));
        residual[i] = std::isfinite(sent) ? a[i] - sent : 0.f;
      }
    }
  }

  // Writes the dense update: the sent values at their indices, zero elsewhere. Throws on a payload that is
  // not exactly what encode_update writes for u.size() values.
  void decode_update(std::span<const std::byte> in, std::span<float> u) const {
    const char* who = "ist::codec::TopK::decode_update";
    const std::size_t n = u.size();
    const std::size_t k = top_k_count(n, fraction);
    const bool bitmap = top_k_uses_bitmap(n, k);
    const std::size_t index_bytes = top_k_index_bytes(n, k);
    const std::string layout = "an 8-byte header, " +
                               (k == n ? std::string("no indices (every entry)")
                                : bitmap ? "a bitmap of " + std::to_string(n) + " bits"
                                         : std::to_string(k) + " u32 indices") +
                               ", then " + std::to_string(k) + " bf16 values";
    IST_CHECK(in.size() >= 8, who, ": expected a payload of ", 8 + index_bytes + 2 * k, " bytes (", layout,
              "), found ", in.size(), " bytes");
    const std::uint32_t hn = detail::get<std::uint32_t>(in.data());
    const std::uint32_t hk = detail::get<std::uint32_t>(in.data() + 4);
    IST_CHECK(hn == n, who, ": expected header n = ", n, " (the slice's length), found ", hn);
    IST_CHECK(hk == k, who, ": expected header k = ", k, " (", name(), " of ", n, " values), found ", hk);
    detail::check_size("ist::codec::TopK", "decode_update", 8 + index_bytes + 2 * k, in.size(), layout);
    std::fill(u.begin(), u.end(), 0.f);
    const std::byte* at_idx = in.data() + 8;
    const std::byte* at_val = at_idx + index_bytes;
    const auto value = [&](std::size_t j) { return bf16_to_float(detail::get<std::uint16_t>(at_val + 2 * j)); };
    if (k == n) {
      for (std::size_t i = 0; i < n; ++i) u[i] = value(i);
      return;
    }
    if (bitmap) {
      std::size_t set = 0;
      for (std::size_t byte = 0; byte < index_bytes; ++byte)
        set += std::size_t(std::popcount(std::uint8_t(at_idx[byte])));
      IST_CHECK(set == k, who, ": expected a bitmap with ", k, " bits set, found ", set);
      if (n % 8 != 0) {
        const auto tail = std::uint8_t(std::uint8_t(at_idx[index_bytes - 1]) >> (n % 8));
        IST_CHECK(tail == 0, who, ": expected the bitmap's bits at and above n = ", n, " to be zero, found bits set");
      }
      std::size_t j = 0;
      for (std::size_t byte = 0; byte < index_bytes; ++byte)
        for (auto bits = std::uint8_t(at_idx[byte]); bits != 0; bits = std::uint8_t(bits & (bits - 1)))
          u[8 * byte + std::size_t(std::countr_zero(bits))] = value(j++);
      return;
    }
    std::int64_t previous = -1;
    for (std::size_t j = 0; j < k; ++j) {
      const std::uint32_t i = detail::get<std::uint32_t>(at_idx + 4 * j);
      IST_CHECK(std::int64_t(i) > previous && i < n, who, ": expected index ", j, " to be above ", previous,
                " and below n = ", n, " (strictly increasing), found ", i);
      u[i] = value(j);
      previous = i;
    }
  }
};

}  // namespace ist::codec
