#pragma once
// A small JSON reader for data-set manifests (the Planetoid meta.json): the core headers need only Eigen,
// so ist carries this instead of depending on a JSON library. It parses RFC 8259 JSON into a JsonValue
// tree (objects keep their keys in file order) and reports malformed text with the line and column.
// Not meant for large documents: manifests are a few kilobytes.
//
//   const ist::JsonValue meta = ist::parse_json(text, "cora/meta.json");
//   const ist::JsonValue* n = meta.find("num_nodes");       // nullptr when absent
//   if (n && n->is_number()) use(n->number);
#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ist/core/error.hpp"

namespace ist {

struct JsonMember;  // a key and its value, defined below

struct JsonValue {
  enum class Kind { Null, Bool, Number, String, Array, Object };
  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<JsonValue> array;
  // Members in file order. JsonMember rather than std::pair<std::string, JsonValue>: a pair of the type
  // being defined does not compile with clang and libstdc++ (its default-constructor check needs the
  // complete JsonValue).
  std::vector<JsonMember> object;

  bool is_number() const noexcept { return kind == Kind::Number; }
  bool is_string() const noexcept { return kind == Kind::String; }
  bool is_object() const noexcept { return kind == Kind::Object; }
  bool is_array() const noexcept { return kind == Kind::Array; }
  // The member `key` of an object (the first, if repeated), or nullptr.
  const JsonValue* find(std::string_view key) const;
};

struct JsonMember {
  std::string key;
  JsonValue value;
};

inline const JsonValue* JsonValue::find(std::string_view key) const {
  if (kind != Kind::Object) return nullptr;
  for (const auto& [k, v] : object)
    if (k == key) return &v;
  return nullptr;
}

namespace detail {

class JsonParser {
 public:
  JsonParser(std::string_view text, std::string source) : s_(text), source_(std::move(source)) {}

  JsonValue parse_document() {
    JsonValue v = value(0);
    skip_space();
    if (i_ != s_.size()) error("expected the end of the document after the top-level value");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const {
    std::size_t line = 1, col = 1;
    for (std::size_t k = 0; k < i_ && k < s_.size(); ++k) {
      if (s_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    fail("ist::parse_json: ", source_, ": invalid JSON at line ", line, ", column ", col, ": ", what);
  }

  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }

  bool take(char c) {
    skip_space();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }

  void expect(char c, const char* what) {
    if (!take(c)) error(std::string("expected ") + what);
  }

  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) == word) {
      i_ += word.size();
      return true;
    }
    return false;
  }

  JsonValue value(int depth) {
    if (depth > 64) error("nesting deeper than 64 levels");
    skip_space();
    if (i_ >= s_.size()) error("unexpected end of the document, expected a value");
    JsonValue v;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      v.kind = JsonValue::Kind::Object;
      if (take('}')) return v;
      do {
        skip_space();
        if (i_ >= s_.size() || s_[i_] != '"') error("expected a string key");
        std::string key = string();
        expect(':', "':' after an object key");
        v.object.push_back(JsonMember{std::move(key), value(depth + 1)});
      } while (take(','));
      expect('}', "',' or '}' in an object");
    } else if (c == '[') {
      ++i_;
      v.kind = JsonValue::Kind::Array;
      if (take(']')) return v;
      do v.array.push_back(value(depth + 1));
      while (take(','));
      expect(']', "',' or ']' in an array");
    } else if (c == '"') {
      v.kind = JsonValue::Kind::String;
      v.string = string();
    } else if (literal("true")) {
      v.kind = JsonValue::Kind::Bool;
      v.boolean = true;
    } else if (literal("false")) {
      v.kind = JsonValue::Kind::Bool;
    } else if (literal("null")) {
      v.kind = JsonValue::Kind::Null;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = JsonValue::Kind::Number;
      v.number = number();
    } else {
      error(std::string("unexpected character '") + c + "', expected a value");
    }
    return v;
  }

  double number() {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t d = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return i_ > d;
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') {
      ++i_;
    } else if (!digits()) {
      error("expected digits in a number");
    }
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      if (!digits()) error("expected digits after the decimal point");
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      if (!digits()) error("expected digits in the exponent");
    }
    const std::string text(s_.substr(start, i_ - start));
    return std::strtod(text.c_str(), nullptr);
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xc0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += char(0xe0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    } else {
      out += char(0xf0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3f));
      out += char(0x80 | ((cp >> 6) & 0x3f));
      out += char(0x80 | (cp & 0x3f));
    }
  }

  unsigned hex4() {
    if (i_ + 4 > s_.size()) error("expected 4 hex digits after \\u");
    unsigned v = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= unsigned(h - '0');
      else if (h >= 'a' && h <= 'f') v |= unsigned(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= unsigned(h - 'A' + 10);
      else error("expected 4 hex digits after \\u");
    }
    return v;
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) error("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character in a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) error("unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00 && s_.substr(i_, 2) == "\\u") {
            i_ += 2;
            const unsigned lo = hex4();
            if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          }
          append_utf8(out, cp);
          break;
        }
        default: error(std::string("unknown escape \\") + e);
      }
    }
  }

  std::string_view s_;
  std::string source_;
  std::size_t i_ = 0;
};

}  // namespace detail

// Parses a whole JSON document; `source` names it in error messages (a file path).
inline JsonValue parse_json(std::string_view text, const std::string& source) {
  return detail::JsonParser(text, source).parse_document();
}

}  // namespace ist
