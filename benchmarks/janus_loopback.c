/* Preloaded into the Janus baseline only (benchmarks/janus_server.py): Janus skips every
 * interface flagged IFF_LOOPBACK when it gathers ICE candidates, and with none left libnice
 * falls back to the machine's other interfaces. Clearing the flag in getifaddrs() lets
 * Janus's ice_enforce_list = "127.0.0.1" give a 127.0.0.1 host candidate, so the benchmark's
 * media never leaves loopback. Nothing else in Janus changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stddef.h>

int getifaddrs(struct ifaddrs **list) {
    int (*real)(struct ifaddrs **) = (int (*)(struct ifaddrs **))dlsym(RTLD_NEXT, "getifaddrs");
    if (real == NULL)
        return -1;
    int result = real(list);
    if (result == 0)
        for (struct ifaddrs *entry = *list; entry != NULL; entry = entry->ifa_next)
            entry->ifa_flags &= ~(unsigned int)IFF_LOOPBACK;
    return result;
}
