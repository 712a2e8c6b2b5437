// prometheus_probe.hpp: the service's metrics side (berth::prometheus),
// built when the consumer asks for that component: the order store's pool
// as Prometheus metrics, in the text format a scrape would get.
#pragma once

#include "order_store.hpp"

#include <string>

namespace consumer {

/// The line of the text format that counts the order store's acquires
/// (berth_pool_acquires_total{pool="orders"} N).
std::string prometheus_probe(order_store& orders);

}  // namespace consumer
