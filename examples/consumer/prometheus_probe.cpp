#include "prometheus_probe.hpp"

#include <berth/prometheus.hpp>

#include <prometheus/text_serializer.h>

#include <sstream>
#include <stdexcept>

namespace consumer {

std::string prometheus_probe(order_store& orders) {
  // The pool is a member of the store, not a shared_ptr: a callable source,
  // removed before the store goes.
  berth::prometheus::collectable metrics;
  const auto id = metrics.add([&] { return berth::stats_by_name{{"orders", orders.pool().stats()}}; });
  std::istringstream text(prometheus::TextSerializer{}.Serialize(metrics.Collect()));
  metrics.remove(id);
  for (std::string line; std::getline(text, line);)
    if (line.rfind("berth_pool_acquires_total{", 0) == 0) return line;
  throw std::runtime_error("prometheus probe: no berth_pool_acquires_total in the scrape");
}

}  // namespace consumer
