#include "asio_probe.hpp"

#include <berth/asio.hpp>
#include <berth/sqlite/connection.hpp>

#include <asio/bind_executor.hpp>
#include <asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>

namespace consumer {

std::string asio_probe(order_store& orders) {
  asio::io_context io;
  std::int64_t count = -1;
  std::string error;
  berth::asio::async_acquire_for(orders.pool(), std::chrono::seconds(1), asio::bind_executor(io, [&](berth::pool<berth::sqlite::adapter>::acquire_result r) {
    if (!r) {
      error = r.error().message();
      return;
    }
    auto& st = (**r).prepare("SELECT count(*) FROM orders");
    if (st.step()) count = st.get<std::int64_t>(0);
    st.reset();
  }));
  io.run();  // the request counts as work until it completes
  if (!error.empty()) throw std::runtime_error("asio probe: " + error);
  return std::to_string(count) + " orders counted on an io_context";
}

}  // namespace consumer
