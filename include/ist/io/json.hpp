#pragma once
// JSON helpers shared by ist's readers and writers of JSON (Planetoid's meta.json, the checkpoint's config,
// the safetensors header), on nlohmann-json (which ist::ist links): parsing with an ist::Error that names the
// file and the position, and the words for what a value is.
//
//   const auto meta = ist::detail::parse_json<nlohmann::json>(text, "ist::load_planetoid", path);
//   IST_CHECK(meta.is_object(), ..., "found ", ist::detail::json_kind(meta));   // "found an array"
#include <set>
#include <string>
#include <string_view>
#include <vector>

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
// ist::Error "<who>: <source>: invalid JSON<in_what> at line L, column C: <nlohmann's reason>"; so does a key
// that appears twice in one object (RFC 8259 leaves that to the reader; nlohmann-json would keep the last).
template <class Json>
Json parse_json(std::string_view text, std::string_view who, const std::string& source, std::string_view in_what = {}) {
  std::vector<std::set<std::string>> keys;  // the keys seen so far in each open object
  const typename Json::parser_callback_t no_duplicates = [&](int, nlohmann::json::parse_event_t event, Json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if (event == Event::object_start) keys.emplace_back();
    else if (event == Event::object_end) keys.pop_back();
    else if (event == Event::key && !keys.empty() && !keys.back().insert(parsed.template get<std::string>()).second)
      fail(who, ": ", source, ": invalid JSON", in_what, ": the key \"", parsed.template get<std::string>(),
           "\" appears twice in one object");
    return true;
  };
  try {
    return Json::parse(text.begin(), text.end(), no_duplicates);
  } catch (const typename Json::parse_error& e) {
    // e.what(): "[json.exception.parse_error.101] parse error at line 3, column 21: syntax error while ..."
    const std::string what = e.what();
    const auto at = what.find("at line ");
    fail(who, ": ", source, ": invalid JSON", in_what, " ", at != std::string::npos ? what.substr(at) : ": " + what);
  } catch (const typename Json::exception& e) {
    // Thrown while parsing too, without a position: "[json.exception.out_of_range.406] number overflow parsing '1e999'"
    const std::string what = e.what();
    const auto end = what.find("] ");
    fail(who, ": ", source, ": invalid JSON", in_what, ": ", end != std::string::npos ? what.substr(end + 2) : what);
  }
}

// A JSON document as compact text; strings that are not UTF-8 get U+FFFD instead of throwing.
template <class Json>
std::string json_text(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace ist::detail
