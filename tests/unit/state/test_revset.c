/* The in-memory revocation set and its wire form. */
#include <criterion/criterion.h>
#include <string.h>

#include "state/revset.h"

static struct ag_revocation rev(char kind, unsigned char fill, long long at, long long until)
{
    struct ag_revocation r = {.kind = kind, .revoked_at = at, .until = until};
    memset(r.digest, fill, sizeof(r.digest));
    return r;
}

Test(revset, hit_respects_kind_time_and_expiry)
{
    struct ag_revset *s = ag_revset_new(0);
    struct ag_revocation r = rev(AG_REVOKE_SUB, 7, 1000, 2000);
    cr_assert_eq(ag_revset_add(s, &r), AG_OK);
    cr_assert(ag_revset_hit(s, AG_REVOKE_SUB, r.digest, 999, 1500), "older session revoked");
    cr_assert(ag_revset_hit(s, AG_REVOKE_SUB, r.digest, 1000, 1500), "same second revoked");
    cr_assert_not(ag_revset_hit(s, AG_REVOKE_SUB, r.digest, 1001, 1500), "newer login kept");
    cr_assert_not(ag_revset_hit(s, AG_REVOKE_SID, r.digest, 999, 1500), "other kind");
    cr_assert_not(ag_revset_hit(s, AG_REVOKE_SUB, r.digest, 999, 2000), "expired entry");
    ag_revset_free(s);
}

Test(revset, add_widens_and_expire_forgets)
{
    struct ag_revset *s = ag_revset_new(0);
    for (int i = 0; i < 1000; i++) {
        struct ag_revocation r = rev(AG_REVOKE_SESSION, 0, 10, i < 500 ? 100 : 300);
        memcpy(r.digest, &i, sizeof(i));
        cr_assert_eq(ag_revset_add(s, &r), AG_OK);
    }
    cr_assert_eq(ag_revset_count(s), 1000);
    struct ag_revocation w = rev(AG_REVOKE_SESSION, 0, 50, 400);
    int k = 3;
    memcpy(w.digest, &k, sizeof(k));
    cr_assert_eq(ag_revset_add(s, &w), AG_OK);
    cr_assert_eq(ag_revset_count(s), 1000, "same entry widened, not added");
    cr_assert_eq(ag_revset_expire(s, 200), 501);
    cr_assert(ag_revset_hit(s, AG_REVOKE_SESSION, w.digest, 40, 250), "widened entry survived");
    int j = 700;
    struct ag_revocation q = rev(AG_REVOKE_SESSION, 0, 0, 0);
    memcpy(q.digest, &j, sizeof(j));
    cr_assert(ag_revset_hit(s, AG_REVOKE_SESSION, q.digest, 5, 250), "probe chains intact");
    ag_revset_free(s);
}

Test(revset, bounded)
{
    struct ag_revset *s = ag_revset_new(3);
    for (unsigned char i = 0; i < 3; i++) {
        struct ag_revocation r = rev(AG_REVOKE_SID, i, 1, 2);
        cr_assert_eq(ag_revset_add(s, &r), AG_OK);
    }
    struct ag_revocation r = rev(AG_REVOKE_SID, 9, 1, 2);
    cr_assert_eq(ag_revset_add(s, &r), AG_ENOMEM);
    ag_revset_free(s);
}

Test(revocation, wire_form_round_trips)
{
    struct ag_revocation r = rev(AG_REVOKE_SID, 0xab, 1733600000, 1733686400), back;
    char text[AG_REVOCATION_TEXT_MAX];
    size_t n = ag_revocation_format(&r, text, sizeof(text));
    cr_assert_str_eq(text, "i:abababababababababababababababab:1733600000:1733686400");
    struct ag_err err = {0};
    cr_assert_eq(ag_revocation_parse(text, n, &back, &err), AG_OK, "%s", err.msg);
    cr_assert_eq(memcmp(&r.digest, &back.digest, sizeof(r.digest)), 0);
    cr_assert_eq(back.revoked_at, r.revoked_at);
    cr_assert_eq(back.until, r.until);
}

Test(revocation, foreign_entries_refused)
{
    static const char *const bad[] = {
        "",
        "x:abababababababababababababababab:1:2",
        "s:abababababababababababababababa:1:2",
        "s:ABABABABABABABABABABABABABABABAB:1:2",
        "s:abababababababababababababababab:1",
        "s:abababababababababababababababab:1:2:3",
        "s:abababababababababababababababab:-1:2",
        "s:abababababababababababababababab:1:99999999999999999999",
        "s:abababababababababababababababab::2",
        "s-abababababababababababababababab:1:2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct ag_revocation r;
        struct ag_err err = {0};
        cr_assert_eq(ag_revocation_parse(bad[i], strlen(bad[i]), &r, &err), AG_EPARSE, "%s",
                     bad[i]);
    }
}
