/* The request pipeline on the front threads: own endpoints -> (login endpoints) -> authenticate
 * -> policy -> forward, and the streaming of bodies both ways with suspend/resume. The
 * libmicrohttpd entry points are declared in front.h. */
#ifndef AG_PROXY_HANDLER_H
#define AG_PROXY_HANDLER_H

/** Frees the pooled per-request contexts (at process exit). */
void ag_handler_pool_free(void);

#endif
