// asio_probe.hpp: the service's event-loop side (berth::asio), built when the
// consumer asks for that component: one asynchronous acquire through an
// io_context on the order store's pool.
#pragma once

#include "order_store.hpp"

#include <string>

namespace consumer {

/// Counts the orders through a connection acquired with
/// berth::asio::async_acquire_for on an io_context, and says how many.
std::string asio_probe(order_store& orders);

}  // namespace consumer
