// enum_names.hpp: checks a to_string() over a whole enum, for the names that
// events, logs, JSON and error messages print (a renamed or missing case is
// an interface change, and the fallback must stay for values out of range).
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <set>
#include <string>

namespace berth::testing {

/// Expects to_string(E(i)) == names[i] for every i, the names distinct, and
/// the first value past the last one named `fallback`. Test thread only.
template <class E>
void expect_enum_names(std::initializer_list<const char*> names, const char* fallback) {
  std::set<std::string> seen;
  std::size_t i = 0;
  for (const char* name : names) {
    const auto e = static_cast<E>(i++);
    EXPECT_STREQ(to_string(e), name) << "value " << (i - 1);
    EXPECT_TRUE(seen.insert(name).second) << name << " named twice";
    EXPECT_STRNE(name, fallback);
  }
  EXPECT_STREQ(to_string(static_cast<E>(names.size())), fallback) << "the value past the last";
}

}  // namespace berth::testing
