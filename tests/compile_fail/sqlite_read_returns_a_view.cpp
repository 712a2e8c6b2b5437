// Must not compile: a read() whose function returns a std::string_view into
// the row (SqliteDatabase.ReadReturningAStringViewDoesNotCompileBug; d5a77a9
// accepted it, and ASan reported a heap-use-after-free on the first use).
#include <berth/sqlite/database.hpp>

#include <string_view>

std::string_view first_name(berth::sqlite::database& db) {
  return db.read([](berth::sqlite::connection& c) {
    auto& st = c.prepare("SELECT name FROM users LIMIT 1");
    (void)st.step();
    return st.get<std::string_view>(0);
  });
}
