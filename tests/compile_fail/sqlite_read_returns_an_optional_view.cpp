// Must not compile: a read() whose function returns a view wrapped in a
// std::optional, as get<std::optional<std::string_view>> gives it (it
// compiled after the first fix, c8f5aa3, and dangled the same way).
#include <berth/sqlite/database.hpp>

#include <optional>
#include <string_view>

std::optional<std::string_view> first_name(berth::sqlite::database& db) {
  return db.read([](berth::sqlite::connection& c) {
    auto& st = c.prepare("SELECT name FROM users LIMIT 1");
    (void)st.step();
    return st.get<std::optional<std::string_view>>(0);
  });
}
