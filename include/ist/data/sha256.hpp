#pragma once
// SHA-256 through OpenSSL's libcrypto (the EVP interface), for checking data files against the hashes their
// manifests list. Part of ist::data, which links OpenSSL::Crypto.
//
//   std::string hex = ist::sha256_hex(bytes, n);   // 64 lowercase hex digits
#include <openssl/evp.h>

#include <cstddef>
#include <string>

#include "ist/core/error.hpp"

namespace ist {

// The SHA-256 digest of n bytes at `data`, as 64 lowercase hex digits.
inline std::string sha256_hex(const void* data, std::size_t n) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  IST_CHECK(EVP_Digest(data, n, md, &len, EVP_sha256(), nullptr) == 1 && len == 32,
            "ist::sha256_hex: OpenSSL's EVP_Digest failed on ", n, " bytes");
  static constexpr char digits[] = "0123456789abcdef";
  std::string hex(2 * std::size_t(len), '0');
  for (unsigned int i = 0; i < len; ++i) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  return hex;
}

}  // namespace ist
