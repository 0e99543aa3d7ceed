/* Cross-field checks and derived fields (redirect_uri, public_https, tls_enabled, unmapped deny)
 * run after every option is converted. Internal to conf/. */
#ifndef AG_CONF_VALIDATE_H
#define AG_CONF_VALIDATE_H

#include "conf/ctx.h"

/** Checks what no single option can check alone; reports through ctx. */
void ag_conf_validate(struct ag_conf_ctx *ctx);

#endif
