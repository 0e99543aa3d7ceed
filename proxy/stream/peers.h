/* Open client connections per peer address, shared by all event loops
 * (server.max_connections_per_ip). Thread-safe; process lifetime (owned by the front). */
#ifndef AG_PROXY_PEERS_H
#define AG_PROXY_PEERS_H

#include <stdbool.h>
#include <sys/socket.h>

struct ag_peers;

struct ag_peers *ag_peers_new(void);
void ag_peers_free(struct ag_peers *p);

/** Counts one more connection from sa unless max (> 0) are already open: false then. */
bool ag_peers_take(struct ag_peers *p, const struct sockaddr *sa, long max);

/** Forgets one connection from sa (taken before). */
void ag_peers_put(struct ag_peers *p, const struct sockaddr *sa);

#endif
