// main.cpp: a service-shaped program that uses berth the way a project that
// depends on it does (examples/consumer/CMakeLists.txt, Makefile).
//   berth_consumer                     orders on an in-memory SQLite database
//   berth_consumer --postgres CONNINFO also SELECT 1 on PostgreSQL (when built
//                                      with berth::postgres)
// Built with berth::asio it also counts the orders through an io_context;
// with berth::prometheus it prints its pool's acquires as a scrape shows them.
// Prints one line per check; exits 0 only if the orders add up.
#include "order_store.hpp"
#ifdef BERTH_CONSUMER_POSTGRES
#include "postgres_probe.hpp"
#endif
#ifdef BERTH_CONSUMER_ASIO
#include "asio_probe.hpp"
#endif
#ifdef BERTH_CONSUMER_PROMETHEUS
#include "prometheus_probe.hpp"
#endif

#include <cstdio>
#include <exception>
#include <string_view>

#ifndef BERTH_CONSUMER_VIA
#define BERTH_CONSUMER_VIA "an unnamed build"
#endif

int main(int argc, char** argv) try {
  consumer::order_store orders({.in_memory = true});
  orders.migrate();
  orders.add("tea", 450);
  orders.add("cake", 325);
  const auto total = orders.total_cents();
  std::printf("berth consumer via %s: 2 orders, %lld cents; pool %s\n", BERTH_CONSUMER_VIA,
              static_cast<long long>(total), orders.pool_state().c_str());

#ifdef BERTH_CONSUMER_ASIO
  std::printf("berth consumer via %s: asio %s\n", BERTH_CONSUMER_VIA, consumer::asio_probe(orders).c_str());
#endif
#ifdef BERTH_CONSUMER_PROMETHEUS
  std::printf("berth consumer via %s: prometheus %s\n", BERTH_CONSUMER_VIA,
              consumer::prometheus_probe(orders).c_str());
#endif
  if (argc == 3 && std::string_view(argv[1]) == "--postgres") {
#ifdef BERTH_CONSUMER_POSTGRES
    std::printf("berth consumer via %s: postgres %s\n", BERTH_CONSUMER_VIA,
                consumer::postgres_probe(argv[2]).c_str());
#else
    std::fprintf(stderr, "berth consumer: built without berth::postgres\n");
    return 2;
#endif
  }
  return total == 775 ? 0 : 1;
} catch (const std::exception& e) {
  std::fprintf(stderr, "berth consumer: %s\n", e.what());
  return 1;
}
