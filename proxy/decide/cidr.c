/* CIDR matching for trusted_proxies; see cidr.h. */
#include "proxy/decide/cidr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static bool ag_cidr_prefix_eq(const uint8_t *a, const unsigned char *b, unsigned bits)
{
    unsigned full = bits / 8, rest = bits % 8;
    if (memcmp(a, b, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xffu << (8 - rest));
    return (a[full] & mask) == (b[full] & mask);
}

bool ag_cidr_match(const struct ag_cidr *list, size_t n, int af, const unsigned char *addr)
{
    for (size_t i = 0; i < n; i++) {
        const struct ag_cidr *c = &list[i];
        if (c->family != af)
            continue;
        unsigned max = af == AF_INET ? 32u : 128u;
        unsigned bits = c->prefix > max ? max : c->prefix;
        if (ag_cidr_prefix_eq(c->addr, addr, bits))
            return true;
    }
    return false;
}

static const unsigned char ag_v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool ag_cidr_match_sockaddr(const struct ag_cidr *list, size_t n, const struct sockaddr *sa)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return ag_cidr_match(list, n, AF_INET, (const unsigned char *)&in->sin_addr);
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = (const unsigned char *)&in6->sin6_addr;
        if (memcmp(b, ag_v4mapped, sizeof(ag_v4mapped)) == 0)
            return ag_cidr_match(list, n, AF_INET, b + 12);
        return ag_cidr_match(list, n, AF_INET6, b);
    }
    return false;
}

const char *ag_cidr_addr_text(const struct sockaddr *sa, char *out, size_t outlen)
{
    const char *r = NULL;
    if (sa && sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        r = inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)outlen);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = (const unsigned char *)&in6->sin6_addr;
        if (memcmp(b, ag_v4mapped, sizeof(ag_v4mapped)) == 0)
            r = inet_ntop(AF_INET, b + 12, out, (socklen_t)outlen);
        else
            r = inet_ntop(AF_INET6, b, out, (socklen_t)outlen);
    }
    if (!r) {
        snprintf(out, outlen, "unknown");
        return out;
    }
    return out;
}
