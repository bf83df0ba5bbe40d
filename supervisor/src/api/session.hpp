// session: the broker behaviour of one client connection, for the listener that forks it.
#pragma once

#include "api/handler.hpp"

#include <caf/behavior.hpp>
#include <caf/io/broker.hpp>

#include <memory>

namespace berth::api_server {

/// Serves the client on `conn`, routing its requests through `routes`.
caf::behavior session(caf::io::broker* self, caf::io::connection_handle conn, options opts,
                      std::shared_ptr<const route_table> routes);

}  // namespace berth::api_server
