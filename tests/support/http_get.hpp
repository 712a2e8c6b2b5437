// http_get.hpp: a minimal HTTP/1.0 GET over a loopback socket, for tests
// that talk to a server's HTTP API (prometheus_server.hpp) without a client
// library.
//
// Thread-safety: the functions are safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace berth::testing {

struct http_response {
  int status = 0;    ///< e.g. 200
  std::string body;  ///< everything after the header
};

/// GETs target ("/path?query") from 127.0.0.1:port with HTTP/1.0, so the
/// server closes the connection after the response (no chunked body).
/// Throws std::runtime_error when it cannot connect, a read times out
/// (`timeout` per read), or the answer is not HTTP. Blocks.
http_response http_get(std::uint16_t port, const std::string& target,
                       std::chrono::milliseconds timeout = std::chrono::seconds{10});

/// s percent-encoded for a URL's query (all but RFC 3986's unreserved
/// characters). Pure.
std::string url_encode(std::string_view s);

}  // namespace berth::testing
