#pragma once
// safetensors files (https://github.com/huggingface/safetensors): named tensors as PyTorch, JAX and the
// Hugging Face tools exchange them. Layout:
//
//   u64 N (little-endian)   the header's length in bytes
//   N bytes                 a JSON object, UTF-8: {"<name>": {"dtype": "F32", "shape": [d0, d1, ...],
//                           "data_offsets": [begin, end]}, ..., "__metadata__": {"<key>": "<string>", ...}}
//   the byte buffer         each tensor's values, row-major, little-endian, at [begin, end) of the buffer
//
//   ist::write_safetensors("model.safetensors", {{"fc.weight", {10, 64}, w}, {"fc.bias", {10}, b}},
//                          {{"format", "pt"}});
//   const ist::SafetensorsFile f = ist::read_safetensors("model.safetensors");
//   std::vector<float> w = f.floats("fc.weight");
//
// Writing: float32 tensors only ("F32"); the header is padded with spaces so that the data starts at a
// multiple of 8 bytes (as the reference implementation does); the file is written atomically
// (write_file_atomically: a reader never sees a torn file).
//
// Reading checks everything, and each failure is an ist::Error that names the file and the field:
// the header length (at least 2, at most the file's size less 8, at most 100 MB); the header is a JSON
// object (UTF-8, no key twice in one object); every entry is {"dtype", "shape", "data_offsets"} and nothing
// else, with a known dtype, a shape of integers >= 0, and offsets [begin, end] that hold exactly
// shape-product x dtype-size bytes; the entries tile the byte buffer exactly (sorted by begin: the first
// begins at 0, each begins where the previous ends, the last ends at the end of the file), so no two overlap
// and none lies outside; "__metadata__" maps strings to strings. Any dtype is accepted on reading;
// floats(name) converts F32 only.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ist/core/atomic_file.hpp"
#include "ist/core/error.hpp"
#include "ist/io/json.hpp"

namespace ist {

// A float32 tensor to write: its name, shape and values (product of the shape values, row-major).
struct SafetensorsTensorView {
  std::string name;
  std::vector<std::int64_t> shape;
  std::span<const float> values;
};

// One entry of a file's header.
struct SafetensorsEntry {
  std::string dtype;                 // "F32", "F16", "BF16", "I64", ... as in the file
  std::vector<std::int64_t> shape;   // empty: a scalar
  std::uint64_t begin = 0, end = 0;  // [begin, end) in the byte buffer
};

// The bytes per element of a safetensors dtype, or 0 for a dtype this reader does not know.
inline std::size_t safetensors_dtype_size(std::string_view dtype) {
  static constexpr std::pair<std::string_view, std::size_t> sizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"I64", 8},     {"U64", 8}, {"F64", 8}};
  for (const auto& [name, size] : sizes)
    if (name == dtype) return size;
  return 0;
}

// A parsed safetensors file: its entries, metadata and byte buffer.
class SafetensorsFile {
 public:
  // Parses a whole file's bytes; `source` names it in errors (a path).
  SafetensorsFile(std::string bytes, std::string source);

  const std::string& source() const noexcept { return source_; }
  // Tensor names in the order of their data in the file.
  const std::vector<std::string>& names() const noexcept { return names_; }
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  // The entry of tensor `name`; throws naming the file when there is none.
  const SafetensorsEntry& entry(const std::string& name) const;
  // The raw little-endian bytes of tensor `name`.
  std::string_view bytes(const std::string& name) const;
  // The values of F32 tensor `name`; throws naming the file, the tensor and its dtype for any other dtype.
  std::vector<float> floats(const std::string& name) const;

 private:
  std::string data_;  // the whole file
  std::size_t buffer_start_ = 0;
  std::string source_;
  std::map<std::string, SafetensorsEntry> entries_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> metadata_;
};

namespace detail {

inline constexpr std::uint64_t kSafetensorsMaxHeader = 100'000'000;  // the reference implementation's limit

inline std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// A JSON value that must be an integer in [0, 2^63): its value, or an error naming `what`.
inline std::uint64_t safetensors_uint(const nlohmann::json& v, const std::string& source, const std::string& what) {
  IST_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<std::int64_t>() >= 0),
            "ist::read_safetensors: ", source, ": ", what, ": expected an integer >= 0, found ",
            v.is_number() ? json_text(v) : json_kind(v));
  const std::uint64_t x = v.get<std::uint64_t>();
  IST_CHECK(x < (std::uint64_t(1) << 62), "ist::read_safetensors: ", source, ": ", what, ": ", x, " is too large");
  return x;
}

}  // namespace detail

inline SafetensorsFile::SafetensorsFile(std::string bytes, std::string source)
    : data_(std::move(bytes)), source_(std::move(source)) {
  const char* who = "ist::read_safetensors: ";
  IST_CHECK(data_.size() >= 8, who, source_, ": expected at least 8 bytes (the header length), found a file of ",
            data_.size(), " bytes");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | std::uint8_t(data_[std::size_t(i)]);
  IST_CHECK(n >= 2 && n <= data_.size() - 8 && n <= detail::kSafetensorsMaxHeader, who, source_,
            ": the header length (the first 8 bytes, little-endian) is ", n, ", expected 2 to ",
            std::min<std::uint64_t>(data_.size() - 8, detail::kSafetensorsMaxHeader),
            " (the file has ", data_.size(), " bytes; not a safetensors file, or truncated)");
  const std::string_view header(data_.data() + 8, std::size_t(n));
  IST_CHECK(header[0] == '{', who, source_, ": expected the header to start with '{', found byte ",
            int(std::uint8_t(header[0])));
  const nlohmann::json h = detail::parse_json<nlohmann::json>(header, "ist::read_safetensors", source_, " in the header");
  IST_CHECK(h.is_object(), who, source_, ": expected the header to be a JSON object, found ", detail::json_kind(h));
  buffer_start_ = 8 + std::size_t(n);
  const std::uint64_t buffer_size = data_.size() - buffer_start_;

  std::vector<std::tuple<std::uint64_t, std::uint64_t, std::string>> by_begin;  // (begin, end, name): the tiling
  for (const auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      IST_CHECK(v.is_object(), who, source_, ": __metadata__: expected an object of strings, found ",
                detail::json_kind(v));
      for (const auto& [key, value] : v.items()) {
        IST_CHECK(value.is_string(), who, source_, ": __metadata__: \"", key, "\": expected a string, found ",
                  detail::json_kind(value));
        metadata_[key] = value.get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor \"" + name + "\"";
    IST_CHECK(!name.empty(), who, source_, ": a tensor has an empty name");
    IST_CHECK(v.is_object(), who, source_, ": ", where, ": expected an object {dtype, shape, data_offsets}, found ",
              detail::json_kind(v));
    for (const auto& [key, unused] : v.items())
      IST_CHECK(key == "dtype" || key == "shape" || key == "data_offsets", who, source_, ": ", where,
                ": unexpected field \"", key, "\" (expected dtype, shape and data_offsets)");
    for (const char* key : {"dtype", "shape", "data_offsets"})
      IST_CHECK(v.contains(key), who, source_, ": ", where, ": missing field \"", key, "\"");
    SafetensorsEntry e;
    const auto& dtype = v.at("dtype");
    IST_CHECK(dtype.is_string(), who, source_, ": ", where, ": dtype: expected a string, found ",
              detail::json_kind(dtype));
    e.dtype = dtype.get<std::string>();
    const std::size_t esize = safetensors_dtype_size(e.dtype);
    IST_CHECK(esize != 0, who, source_, ": ", where, ": unknown dtype \"", e.dtype,
              "\" (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64)");
    const auto& shape = v.at("shape");
    IST_CHECK(shape.is_array() && shape.size() <= 64, who, source_, ": ", where,
              ": shape: expected an array of at most 64 integers, found ",
              shape.is_array() ? std::to_string(shape.size()) + " values" : detail::json_kind(shape));
    std::uint64_t count = 1;
    bool overflow = false;
    for (std::size_t d = 0; d < shape.size(); ++d) {
      const std::uint64_t dim = detail::safetensors_uint(shape[d], source_, where + ": shape[" + std::to_string(d) + "]");
      e.shape.push_back(std::int64_t(dim));
      if (dim != 0 && count > (std::uint64_t(1) << 62) / dim) overflow = true;
      count = overflow ? count : count * dim;
    }
    const auto& offsets = v.at("data_offsets");
    IST_CHECK(offsets.is_array() && offsets.size() == 2, who, source_, ": ", where,
              ": data_offsets: expected [begin, end], found ",
              offsets.is_array() ? std::to_string(offsets.size()) + " values" : detail::json_kind(offsets));
    e.begin = detail::safetensors_uint(offsets[0], source_, where + ": data_offsets[0]");
    e.end = detail::safetensors_uint(offsets[1], source_, where + ": data_offsets[1]");
    IST_CHECK(e.begin <= e.end, who, source_, ": ", where, ": data_offsets [", e.begin, ", ", e.end,
              "]: begin is after end");
    IST_CHECK(e.end <= buffer_size, who, source_, ": ", where, ": data_offsets [", e.begin, ", ", e.end,
              "] lie outside the byte buffer of ", buffer_size, " bytes (file truncated?)");
    IST_CHECK(!overflow && count <= (std::uint64_t(1) << 62) / esize && count * esize == e.end - e.begin, who,
              source_, ": ", where, ": data_offsets [", e.begin, ", ", e.end, "] hold ", e.end - e.begin,
              " bytes, but dtype ", e.dtype, " and shape ", detail::shape_text(e.shape), " need ",
              overflow ? std::string("more than 2^62") : std::to_string(count * esize));
    by_begin.emplace_back(e.begin, e.end, name);
    entries_.emplace(name, std::move(e));
  }
  // The tensors tile the buffer: no gap, no overlap, nothing after the last.
  std::sort(by_begin.begin(), by_begin.end());
  std::uint64_t at = 0;
  std::string previous;
  for (const auto& [begin, end, name] : by_begin) {
    const SafetensorsEntry& e = entries_.at(name);
    IST_CHECK(begin == at, who, source_, ": tensor \"", name, "\": data_offsets [", e.begin, ", ", e.end, "] ",
              begin < at ? "overlap" : "leave a gap after", " ",
              previous.empty() ? std::string("the start of the buffer") : "tensor \"" + previous + "\"",
              " (which ends at ", at, "); tensors must follow each other without gaps");
    at = e.end;
    previous = name;
    names_.push_back(name);
  }
  IST_CHECK(at == buffer_size, who, source_, ": the tensors end at byte ", at, " of the byte buffer, but it has ",
            buffer_size, " bytes (trailing data)");
}

inline const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  IST_CHECK(it != entries_.end(), "ist::read_safetensors: ", source_, ": no tensor named \"", name, "\"");
  return it->second;
}

inline std::string_view SafetensorsFile::bytes(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  return std::string_view(data_).substr(buffer_start_ + std::size_t(e.begin), std::size_t(e.end - e.begin));
}

inline std::vector<float> SafetensorsFile::floats(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  IST_CHECK(e.dtype == "F32", "ist::read_safetensors: ", source_, ": tensor \"", name,
            "\": expected dtype F32, found ", e.dtype, " (convert it to float32 before saving, e.g. tensor.float())");
  const std::string_view b = bytes(name);
  std::vector<float> out(b.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), b.data(), b.size());
  if constexpr (std::endian::native == std::endian::big) {  // the file is little-endian
    for (float& v : out) {
      unsigned char b[4];
      std::memcpy(b, &v, 4);
      std::reverse(b, b + 4);
      std::memcpy(&v, b, 4);
    }
  }
  return out;
}

// Reads and checks a whole safetensors file (see the top of this header for what is checked).
inline SafetensorsFile read_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  IST_CHECK(in.good(), "ist::read_safetensors: ", path, ": cannot open for reading (missing file or no permission)");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  IST_CHECK(!in.bad(), "ist::read_safetensors: ", path, ": read error");
  return SafetensorsFile(std::move(bytes), path);
}

// Writes float32 tensors, in the given order, and string metadata ("__metadata__"), atomically. Names must
// be unique and not "__metadata__"; each tensor's values must number the product of its shape.
inline void write_safetensors(const std::string& path, std::span<const SafetensorsTensorView> tensors,
                              const std::map<std::string, std::string>& metadata = {}) {
  const char* who = "ist::write_safetensors: ";
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json m = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) m[key] = value;
    header["__metadata__"] = std::move(m);
  }
  std::uint64_t offset = 0;
  for (const SafetensorsTensorView& t : tensors) {
    IST_CHECK(!t.name.empty() && t.name != "__metadata__", who, path, ": invalid tensor name \"", t.name, "\"");
    IST_CHECK(!header.contains(t.name), who, path, ": tensor \"", t.name, "\" is given twice");
    std::uint64_t count = 1;
    for (const std::int64_t d : t.shape) {
      IST_CHECK(d >= 0, who, path, ": tensor \"", t.name, "\": negative dimension in shape ",
                detail::shape_text(t.shape));
      count *= std::uint64_t(d);
    }
    IST_CHECK(count == t.values.size(), who, path, ": tensor \"", t.name, "\": shape ", detail::shape_text(t.shape),
              " needs ", count, " values, found ", t.values.size());
    const std::uint64_t bytes = count * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string h = detail::json_text(header);
  h.append((8 - h.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string file;
  file.reserve(8 + h.size() + std::size_t(offset));
  for (int i = 0; i < 8; ++i) file += char((std::uint64_t(h.size()) >> (8 * i)) & 0xff);
  file += h;
  for (const SafetensorsTensorView& t : tensors) {
    const std::size_t at = file.size();
    file.resize(at + t.values.size() * sizeof(float));
    if (!t.values.empty()) std::memcpy(file.data() + at, t.values.data(), t.values.size() * sizeof(float));
    if constexpr (std::endian::native == std::endian::big) {
      for (std::size_t i = at; i < file.size(); i += 4) std::reverse(file.begin() + i, file.begin() + i + 4);
    }
  }
  write_file_atomically(path, file);
}

}  // namespace ist
