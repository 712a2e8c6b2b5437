// role.cpp: see role.hpp.
#include <berth/postgres/role.hpp>

namespace berth::postgres {

std::string_view to_string(server_role r) noexcept {
  switch (r) {
    case server_role::unknown: return "unknown";
    case server_role::primary: return "primary";
    case server_role::standby: return "standby";
  }
  return "?";
}

std::string_view to_string(session_target t) noexcept {
  switch (t) {
    case session_target::any: return "any";
    case session_target::read_write: return "read-write";
    case session_target::read_only: return "read-only";
    case session_target::primary: return "primary";
    case session_target::standby: return "standby";
    case session_target::prefer_standby: return "prefer-standby";
  }
  return "?";
}

std::optional<session_target> parse_session_target(std::string_view s) noexcept {
  for (const auto t : {session_target::any, session_target::read_write, session_target::read_only,
                       session_target::primary, session_target::standby, session_target::prefer_standby})
    if (s == to_string(t)) return t;
  return std::nullopt;
}

bool session_accepts(session_target target, server_role r, bool read_only) noexcept {
  switch (target) {
    case session_target::any:
    case session_target::prefer_standby: return true;
    case session_target::read_write: return r != server_role::standby && !read_only;
    case session_target::read_only: return r != server_role::primary || read_only;
    case session_target::primary: return r != server_role::standby;
    case session_target::standby: return r != server_role::primary;
  }
  return true;
}

bool write_refusal_means_failover(session_target target, server_role r) noexcept {
  if (r != server_role::standby) return false;
  return target == session_target::any || target == session_target::read_write ||
         target == session_target::primary;
}

}  // namespace berth::postgres
