// status_line.hpp: the one-line live status of a run, as the bytes to
// write: redrawn in place on a terminal, a plain line now and then
// otherwise.
//
//   12.3s hammer-32 | 1.23M ops/s | pool 32/32 leased, 0 idle, 104 waiting | 12 timeouts | p50 3.1us p99 1.2ms
//
// Terminal: "\r" + line + "\x1b[K" (clear to end of line), truncated to the
// terminal's width so that it never wraps (a wrapped line cannot be redrawn
// with "\r"); the cursor stays at its end, so output written meanwhile by
// someone else starts after it rather than over it. clear() erases it.
// Plain: line + "\n", at most once per `plain_every`.
#pragma once

#include <berth/live/sample.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace berth::live {

enum class status_mode : std::uint8_t {
  off,       ///< nothing
  terminal,  ///< one line rewritten in place
  plain,     ///< a full line every plain_every
};

/// The mode for a stream: `requested` nullopt (the default) gives terminal
/// when `is_terminal`, else off; true gives terminal or plain; false, off.
/// Pure.
status_mode choose_status_mode(std::optional<bool> requested, bool is_terminal) noexcept;

/// The BERTH_LIVE environment variable: "1"/"on"/"yes" true, "0"/"off"/"no"
/// false, unset or empty nullopt (automatic); anything else throws
/// std::invalid_argument naming it. Thread-safe (reads the environment).
std::optional<bool> live_from_env();

/// "850ns", "12.4us", "1.20ms", "3.05s". Pure.
std::string format_duration(std::chrono::nanoseconds d);
/// "950", "12.3k", "1.23M", "4.56G". Pure.
std::string format_rate(double per_second);

/// The status text of `s` (no control characters, no newline). Pure.
std::string format_status(const sample& s, const phase_info& phase);

/// Distinct objects: safe. Shared objects: unsafe (run_monitor guards its
/// one with its mutex).
class status_line {
 public:
  status_line(status_mode mode, std::chrono::nanoseconds plain_every) noexcept
      : mode_(mode), plain_every_(plain_every) {}

  /// The mode given at construction. Never blocks.
  status_mode mode() const noexcept { return mode_; }

  /// The bytes to write for `s` ("" when nothing is due). `width`: the
  /// terminal's columns (0: unknown, no truncation). Not thread-safe.
  /// Never blocks. Allocates.
  std::string render(const sample& s, const phase_info& phase, std::size_t width);
  /// The bytes that erase a drawn terminal line ("" otherwise). Not
  /// thread-safe. Never blocks.
  std::string clear();

 private:
  status_mode mode_;
  std::chrono::nanoseconds plain_every_;
  std::optional<std::chrono::nanoseconds> last_plain_;  // elapsed at the last plain line
  bool drawn_ = false;                                  // a terminal line is on screen
};

}  // namespace berth::live
