#pragma once
// Loops over contiguous values written in Eigen's packets (16 floats with AVX-512, 8 with AVX2), so that
// their speed does not depend on the compiler's auto-vectorizer: g++ 12 vectorizes a plain loop of unknown
// length at -O3 only, and a build at -O2 (CMake's RelWithDebInfo) ran GIST 1.7x slower on scalar code
// (docs/performance.md, "Independent of -O3"). Each element gets the operations of the plain loop named
// in its comment, in the same order; a multiply-add is pmadd, fused where the target has FMA, as g++
// contracts the plain loop's `a * b + c` there. So the results are the plain loop's, bit for bit.
//
// n is any count >= 0; the values past the last whole packet are done one by one.
#include <Eigen/Core>
#include <cstddef>

namespace ist::eigen::detail {

template <class T>
using LoopPacket = typename Eigen::internal::packet_traits<T>::type;

// vec(j) for every whole packet [j, j + L) of [0, n), then one(j) for each of the n % L elements after them.
template <class T, class Vec, class One>
inline void packets_then_tail(std::size_t n, Vec&& vec, One&& one) {
  constexpr std::size_t L = Eigen::internal::packet_traits<T>::size;
  const std::size_t tail = n % L, body = n - tail;
  for (std::size_t j = 0; j < body; j += L) vec(j);
  for (std::size_t t = 0; t < tail; ++t) one(body + t);
}

// out[j] = s * u[j] + v[j]   (one multiply-add; out may alias u or v)
template <class T>
inline void multiply_add(T s, const T* u, const T* v, T* out, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = LoopPacket<T>;
  const P sv = ei::pset1<P>(s);
  packets_then_tail<T>(
      n, [&](std::size_t j) { ei::pstoreu(out + j, ei::pmadd(sv, ei::ploadu<P>(u + j), ei::ploadu<P>(v + j))); },
      [&](std::size_t j) { out[j] = ei::pmadd(s, u[j], v[j]); });
}

// y[j] = w * x[j] + y[j]   (y += w x)
template <class T>
inline void axpy(T w, const T* x, T* y, std::size_t n) {
  multiply_add(w, x, static_cast<const T*>(y), y, n);
}

// y[j] = s * y[j] + b[j]
template <class T>
inline void scale_add(T s, const T* b, T* y, std::size_t n) {
  multiply_add(s, static_cast<const T*>(y), b, y, n);
}

// y[j] = y[j] + x[j]
template <class T>
inline void add(const T* x, T* y, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = LoopPacket<T>;
  packets_then_tail<T>(
      n, [&](std::size_t j) { ei::pstoreu(y + j, ei::padd(ei::ploadu<P>(y + j), ei::ploadu<P>(x + j))); },
      [&](std::size_t j) { y[j] = y[j] + x[j]; });
}

// y[j] = x[j] * m[j]   (y may alias x or m)
template <class T>
inline void multiply(const T* x, const T* m, T* y, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = LoopPacket<T>;
  packets_then_tail<T>(
      n, [&](std::size_t j) { ei::pstoreu(y + j, ei::pmul(ei::ploadu<P>(x + j), ei::ploadu<P>(m + j))); },
      [&](std::size_t j) { y[j] = x[j] * m[j]; });
}

// y[j] = x[j] * s   (y may alias x)
template <class T>
inline void scale(T s, const T* x, T* y, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = LoopPacket<T>;
  const P sv = ei::pset1<P>(s);
  packets_then_tail<T>(
      n, [&](std::size_t j) { ei::pstoreu(y + j, ei::pmul(ei::ploadu<P>(x + j), sv)); },
      [&](std::size_t j) { y[j] = x[j] * s; });
}

// y[j] = max(x[j], 0)   (y may alias x). std::max(x, 0) is `x < 0 ? 0 : x`: -0 and NaN stay as they are.
template <class T>
inline void relu(const T* x, T* y, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = LoopPacket<T>;
  const P zero = ei::pset1<P>(T(0));
  packets_then_tail<T>(
      n,
      [&](std::size_t j) {
        const P v = ei::ploadu<P>(x + j);
        ei::pstoreu(y + j, ei::pselect(ei::pcmp_lt(v, zero), zero, v));
      },
      [&](std::size_t j) { y[j] = x[j] < T(0) ? T(0) : x[j]; });
}

// out[j] = y[j] > 0 ? g[j] : 0   (the ReLU's backward from its output y; NaN in y gives 0; out may alias g)
template <class T>
inline void relu_mask(const T* y, const T* g, T* out, std::size_t n) {
  namespace ei = Eigen::internal;
  using P = LoopPacket<T>;
  const P zero = ei::pset1<P>(T(0));
  packets_then_tail<T>(
      n,
      [&](std::size_t j) {
        const P keep = ei::pcmp_lt(zero, ei::ploadu<P>(y + j));
        ei::pstoreu(out + j, ei::pand(keep, ei::ploadu<P>(g + j)));
      },
      [&](std::size_t j) { out[j] = y[j] > T(0) ? g[j] : T(0); });
}

}  // namespace ist::eigen::detail
