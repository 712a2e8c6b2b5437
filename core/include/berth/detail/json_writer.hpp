// json_writer.hpp: appends JSON text to a std::string, for the statistics
// snapshot (json.hpp) and the event log (event_log.hpp).
//
//   std::string out;
//   detail::json_writer w(out);
//   w.begin_object();
//   w.key("pool").string("orders");
//   w.key("created").uint(3);
//   w.end_object();                       // {"pool":"orders","created":3}
//
// Output is always valid JSON (RFC 8259) for well-nested calls:
// - strings: '"' and '\' are escaped, control characters (U+0000..U+001F)
//   and DEL are written as \u00XX; every other byte passes through when it
//   is part of well-formed UTF-8, and each maximal ill-formed subsequence
//   (a stray continuation byte, a truncated sequence, an overlong form, a
//   surrogate, a value above U+10FFFF) becomes one U+FFFD, as the Unicode
//   standard recommends (ch. 3, "U+FFFD Substitution of Maximal Subparts").
// - numbers: unsigned and signed integers exactly; doubles in the shortest
//   form that reads back the same (std::to_chars), NaN and infinities as
//   null (JSON has no such numbers).
// The writer inserts commas itself: one flag, "a value was just completed",
// is all the state it needs (begin_* clears it, a value or end_* sets it,
// key() and a value in an array write a comma when it is set). It does not
// check nesting: callers write well-nested calls (one function per object).
//
// Thread-safety: distinct objects safe, shared objects unsafe. Members
// never block; they allocate as the string grows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::detail {

/// Appends s to out as a JSON string literal, quotes included (see the file
/// comment for escaping and ill-formed UTF-8). Thread-safe. Allocates.
void append_json_string(std::string& out, std::string_view s);

/// The offset of the first byte of s that is not part of a well-formed UTF-8
/// sequence, or std::string_view::npos when s is well-formed UTF-8. Pure.
std::size_t first_invalid_utf8(std::string_view s) noexcept;

/// Builds JSON into a caller's string (see the file comment).
/// Distinct objects: safe. Shared objects: unsafe.
class json_writer {
 public:
  /// Appends to out, which must outlive the writer. Never allocates.
  explicit json_writer(std::string& out) noexcept : out_(out) {}

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }

  /// An object member's name; the next call writes its value.
  json_writer& key(std::string_view k);

  /// Values: in an array, or after key(). Not thread-safe. Allocate.
  json_writer& string(std::string_view s);
  json_writer& uint(std::uint64_t v);
  json_writer& integer(std::int64_t v);
  /// null when v is NaN or infinite.
  json_writer& number(double v);
  json_writer& boolean(bool v);
  json_writer& null();

 private:
  json_writer& open(char c);
  json_writer& close(char c);
  /// Writes the comma that separates this value from the previous one.
  void separate();
  /// std::to_chars of v, as a value.
  template <class T>
  json_writer& raw_number(T v);

  std::string& out_;
  bool after_value_ = false;  ///< the last thing written was a complete value
};

}  // namespace berth::detail
