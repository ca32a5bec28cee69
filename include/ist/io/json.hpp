#pragma once
// JSON helpers shared by ist's readers and writers of JSON (Planetoid's meta.json, the checkpoint's config,
// the safetensors header), on nlohmann-json (which ist::ist links): parsing with an ist::Error that names the
// file and the position, and the words for what a value is.
//
//   const auto meta = ist::detail::parse_json<nlohmann::json>(text, "ist::load_planetoid", path);
//   IST_CHECK(meta.is_object(), ..., "found ", ist::detail::json_kind(meta));   // "found an array"
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ist/core/error.hpp"

namespace ist::detail {

// What a JSON value is, for messages: "a string", "a number", "an array", "an object", "a boolean", "null".
template <class Json>
std::string json_kind(const Json& v) {
  const std::string t = v.type_name();
  return (t == "null" ? "" : t == "array" || t == "object" ? "an " : "a ") + t;
}

// Parses a whole JSON document (Json: nlohmann::json or nlohmann::ordered_json). Malformed text throws
// ist::Error "<who>: <source>: invalid JSON<in_what> at line L, column C: <nlohmann's reason>".
template <class Json>
Json parse_json(std::string_view text, std::string_view who, const std::string& source, std::string_view in_what = {}) {
  try {
    return Json::parse(text.begin(), text.end());
  } catch (const typename Json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line 3, column 21: syntax error while ..."
    const std::string what = e.what();
    const auto at = what.find("at line ");
    fail(who, ": ", source, ": invalid JSON", in_what, " ", at != std::string::npos ? what.substr(at) : ": " + what);
  }
}

// A JSON document as compact text; strings that are not UTF-8 get U+FFFD instead of throwing.
template <class Json>
std::string json_text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace ist::detail
