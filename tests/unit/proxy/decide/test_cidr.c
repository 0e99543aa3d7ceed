#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proxy/decide/cidr.h"

static struct ag_cidr cidr(const char *addr, unsigned prefix)
{
    struct ag_cidr c;
    memset(&c, 0, sizeof(c));
    c.prefix = prefix;
    if (inet_pton(AF_INET, addr, c.addr) == 1)
        c.family = AF_INET;
    else if (inet_pton(AF_INET6, addr, c.addr) == 1)
        c.family = AF_INET6;
    return c;
}

static bool match4(const struct ag_cidr *l, size_t n, const char *ip)
{
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &in.sin_addr);
    return ag_cidr_match_sockaddr(l, n, (struct sockaddr *)&in);
}

static bool match6(const struct ag_cidr *l, size_t n, const char *ip)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &in6.sin6_addr);
    return ag_cidr_match_sockaddr(l, n, (struct sockaddr *)&in6);
}

Test(cidr, gclb_ranges)
{
    struct ag_cidr l[] = {cidr("35.191.0.0", 16), cidr("130.211.0.0", 22)};
    cr_assert(match4(l, 2, "35.191.0.1"));
    cr_assert(match4(l, 2, "35.191.255.255"));
    cr_assert_not(match4(l, 2, "35.192.0.1"));
    cr_assert(match4(l, 2, "130.211.3.255"));
    cr_assert_not(match4(l, 2, "130.211.4.0"));
    cr_assert_not(match4(l, 0, "35.191.0.1"), "empty list trusts nobody");
}

Test(cidr, odd_prefixes_and_host_routes)
{
    struct ag_cidr l[] = {cidr("10.1.2.3", 32), cidr("192.168.0.0", 17), cidr("0.0.0.0", 0)};
    cr_assert(match4(l, 1, "10.1.2.3"));
    cr_assert_not(match4(l, 1, "10.1.2.4"));
    cr_assert(match4(l + 1, 1, "192.168.127.1"));
    cr_assert_not(match4(l + 1, 1, "192.168.128.1"));
    cr_assert(match4(l + 2, 1, "8.8.8.8"), "/0 matches everything");
}

Test(cidr, ipv6_and_mapped_ipv4)
{
    struct ag_cidr l[] = {cidr("2001:db8::", 32), cidr("10.0.0.0", 8)};
    cr_assert(match6(l, 2, "2001:db8:1::5"));
    cr_assert_not(match6(l, 2, "2001:db9::1"));
    cr_assert(match6(l, 2, "::ffff:10.9.8.7"), "IPv4-mapped is matched as IPv4");
    cr_assert_not(match6(l, 2, "::ffff:11.9.8.7"));
    cr_assert_not(match6(l, 2, "::1"));
    cr_assert_not(ag_cidr_match_sockaddr(l, 2, NULL));
    char buf[64];
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.9.8.7", &in6.sin6_addr);
    cr_assert_str_eq(ag_cidr_addr_text((struct sockaddr *)&in6, buf, sizeof(buf)), "10.9.8.7");
}
