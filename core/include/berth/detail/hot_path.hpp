// hot_path.hpp: attributes that keep acquire/release fast in the user's build.
//
// A user compiles berth's inline fast path with their own flags (often -O2,
// without NDEBUG), not with the project's release preset. GCC's inliner at
// -O2 left try_claim() and the pool's acquire_for() as calls and inlined the
// slow path (with its acquire_error) into the caller instead, spilling the
// whole frame (issue 9: 12.7 ns per cycle at -O2 vs 10.6 with the fast path
// inlined and the slow path kept out of line). These macros state the intent
// instead of leaving it to the inliner's heuristics:
//   BERTH_HOT   always inline: a function of the fast path (small, no loop
//               that can block).
//   BERTH_COLD  never inline, laid out with the cold code: a slow path.
//   BERTH_OUT_OF_LINE  never inline, but optimized as usual: the general
//               case of a fast path (the ring, a flagged slot), common
//               under contention, kept out of the inline case's frame.
//   BERTH_EXPECT_TRUE(cond)  cond, expected true: GCC 12 laid the fast
//               path's successful CAS out in .text.cold with [[likely]]
//               on the branch (a taken jump there and back, every cycle).
//   BERTH_INTERNAL_ASSERT(cond, msg)  checks an invariant of berth's own
//               protocol (not a user's mistake). On only when the build
//               defines BERTH_INTERNAL_CHECKS (berth's own debug and
//               sanitizer builds do), so that a user's build without NDEBUG
//               does not pay for berth's self-checks on every release.
// Compilers other than GCC and Clang get plain `inline` and nothing.
#pragma once

#include <cassert>

#if defined(__GNUC__) || defined(__clang__)
#define BERTH_HOT [[gnu::always_inline]] inline
#define BERTH_COLD [[gnu::noinline, gnu::cold]]
#define BERTH_OUT_OF_LINE [[gnu::noinline]]
#define BERTH_EXPECT_TRUE(cond) __builtin_expect(static_cast<bool>(cond), 1)
#else
#define BERTH_HOT inline
#define BERTH_COLD
#define BERTH_OUT_OF_LINE
#define BERTH_EXPECT_TRUE(cond) static_cast<bool>(cond)
#endif

#ifdef BERTH_INTERNAL_CHECKS
#define BERTH_INTERNAL_ASSERT(cond, msg) assert((cond) && msg)
#else
#define BERTH_INTERNAL_ASSERT(cond, msg) static_cast<void>(0)
#endif
