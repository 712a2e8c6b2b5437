// silent_server.hpp: a loopback TCP port whose listener accepts (the kernel
// completes the handshake) and never answers: a database server that went
// silent, for tests of connect deadlines and of closing during a connect.
#pragma once

#include <stdexcept>
#include <string>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace berth::testing {

/// Listens on 127.0.0.1, an ephemeral port, until destroyed. Not copyable.
struct silent_server {
  silent_server() {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
      throw std::runtime_error("silent_server: cannot listen on loopback");
    port = ntohs(a.sin_port);
  }
  ~silent_server() { ::close(fd); }
  silent_server(const silent_server&) = delete;
  silent_server& operator=(const silent_server&) = delete;
  /// "host=127.0.0.1 port=<port>".
  std::string host_port() const { return "host=127.0.0.1 port=" + std::to_string(port); }
  int fd = -1;
  int port = 0;
};

}  // namespace berth::testing
