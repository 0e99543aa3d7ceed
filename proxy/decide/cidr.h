/* Trusted-proxy matching: is a peer address inside one of the configured CIDR ranges. Pure. */
#ifndef AG_PROXY_CIDR_H
#define AG_PROXY_CIDR_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/config.h"

struct sockaddr;

/** True when sa (AF_INET or AF_INET6; IPv4-mapped IPv6 is treated as IPv4) is in one of the
 * n ranges. NULL or other families never match. */
bool ag_cidr_match_sockaddr(const struct ag_cidr *list, size_t n, const struct sockaddr *sa);

/** Same for raw address bytes of family af (4 or 16 bytes). */
bool ag_cidr_match(const struct ag_cidr *list, size_t n, int af, const unsigned char *addr);

/** Writes the peer address as text ("10.0.0.1", "2001:db8::1"; IPv4-mapped shown as IPv4).
 * Returns out, or "unknown". */
const char *ag_cidr_addr_text(const struct sockaddr *sa, char *out, size_t outlen);

#endif
