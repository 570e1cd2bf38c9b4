#ifndef CAVAHI_SHIM_H
#define CAVAHI_SHIM_H

// The parts of libavahi-client (and libavahi-common) that AvahiDiscovery uses.
// No helpers are needed: every function used is non-variadic, and the AvahiPoll
// function pointers (timeout_new, timeout_update) are callable from Swift as they are.
// Variadic functions (avahi_string_list_new, avahi_entry_group_add_service) are not
// callable from Swift: use avahi_string_list_add_pair and avahi_entry_group_add_service_strlst.

#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/alternative.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>
#include <avahi-common/timeval.h>

#endif
