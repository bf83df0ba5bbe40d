// api: the methods berthd serves to the berth CLI and remote clients, and their payloads.
//
// The one include for clients: every part of the wire, split by resource under api/. Payloads
// are plain structs whose fields are listed once, with BERTH_FIELDS (rpc/fields.hpp): a msgpack
// map on the wire, and inspect() for the daemon's actors through actors/vocabulary.hpp.
// docs/protocol.md lists every method with its argument and result.
#pragma once

#include "berth/rpc/api/common.hpp"
#include "berth/rpc/api/containers.hpp"
#include "berth/rpc/api/files.hpp"
#include "berth/rpc/api/health.hpp"
#include "berth/rpc/api/images.hpp"
#include "berth/rpc/api/log_options.hpp"
#include "berth/rpc/api/networks.hpp"
#include "berth/rpc/api/restart_policy.hpp"
#include "berth/rpc/api/streams.hpp"
#include "berth/rpc/api/system.hpp"
#include "berth/rpc/api/volumes.hpp"
