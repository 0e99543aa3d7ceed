"""Verification of airgate's X-Airgate-Assertion on the Airflow side.

airgate signs a short-lived ES256 JWT with the identity and the Airflow roles of every request it
forwards (format: docs/assertion.md) and publishes the public key at
/.well-known/airgate/jwks.json. This module checks such an assertion. It imports nothing from
Airflow or Flask, only PyJWT (which Airflow ships) and the standard library, so it can be tested
on its own and used from webserver_config.py.

    verifier = AirgateVerifier(
        jwks_url="http://airgate.airflow.svc.cluster.local:4180/.well-known/airgate/jwks.json",
        issuer="https://airflow.example.com", audience="airflow")
    claims = verifier.verify(request.headers.get(HEADER))   # raises AssertionRejected
    check_identity_headers(claims, request.headers)          # the plain headers agree
    info = user_info(claims)
"""

import json
import re
import threading
import time
import urllib.parse
import urllib.request

import jwt

HEADER = "X-Airgate-Assertion"
ALGORITHM = "ES256"  # the only algorithm airgate signs with; never taken from the token
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp"]
MAX_TOKEN_BYTES = 64 * 1024


class AssertionRejected(Exception):
    """The assertion is missing or does not verify; str(e) says why (for the log, not the user)."""


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_B64URL_VALUES = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}


def canonical_b64url(part):
    """True when part is base64url as JOSE requires it (RFC 7515 section 2) and as airgate
    checks it: alphabet only (no padding, no whitespace, no '+' or '/'), no impossible length,
    and zero unused bits in the last character, so that one byte string has one spelling."""
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        return False
    if not part:
        return True
    unused = {0: 0, 2: 4, 3: 2}[len(part) % 4]
    return _B64URL_VALUES[part[-1]] & ((1 << unused) - 1) == 0


def decode_identity_value(value):
    """Decodes one identity header value as airgate encodes it (docs/security.md): '%XX' escapes
    for '%', ',', control characters and bytes that are not UTF-8; the result is text (bytes that
    were not UTF-8 come back as U+FFFD)."""
    return urllib.parse.unquote(value or "", encoding="utf-8", errors="replace")


def split_identity_list(value):
    """X-Forwarded-Groups / X-Airflow-Roles as a list: split on ',' first, then decode each
    item, so a role named "team_x,airflow_admin" stays one role. An empty header is []."""
    if not value:
        return []
    return [decode_identity_value(v) for v in value.split(",")]


def check_identity_headers(claims, headers):
    """Raises AssertionRejected when an identity header airgate sent (present in headers, a
    mapping with .get) disagrees with the verified assertion: the headers then did not all come
    from airgate, or were re-encoded on the way."""
    lists = {"X-Forwarded-Groups": "groups", "X-Airflow-Roles": "roles"}
    for header, claim in lists.items():
        v = headers.get(header)
        if v is not None and split_identity_list(v) != list(claims.get(claim, [])):
            raise AssertionRejected("%s does not match the assertion's %r" % (header, claim))
    user = headers.get("X-Forwarded-User")
    want = claims.get("preferred_username") or claims.get("sub")
    if user is not None and decode_identity_value(user) != want:
        raise AssertionRejected("X-Forwarded-User does not match the assertion")


class JwksCache:
    """airgate's JWK Set, fetched on first use and cached for `ttl` seconds. A token with an
    unknown `kid` triggers at most one re-fetch per `min_refetch` seconds (airgate's key changes
    when its cookie secret or assertion key does); a failed fetch keeps the last good keys."""

    def __init__(self, url=None, ttl=300, min_refetch=30, timeout=5, fetch=None, clock=time.monotonic):
        if not url and not fetch:
            raise ValueError("JwksCache needs a url or a fetch function")
        self._url = url
        self._ttl = ttl
        self._min_refetch = min_refetch
        self._timeout = timeout
        self._fetch = fetch or self._fetch_url
        self._clock = clock
        self._lock = threading.Lock()
        self._keys = {}
        self._fetched_at = None
        self._last_attempt = None
        self.fetches = 0

    def _fetch_url(self):
        req = urllib.request.Request(self._url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=self._timeout) as resp:  # noqa: S310 (configured URL)
            return resp.read(1024 * 1024).decode("utf-8")

    def _refresh(self, now):
        self._last_attempt = now
        self.fetches += 1
        try:
            doc = self._fetch()
            jwks = json.loads(doc) if isinstance(doc, (str, bytes)) else doc
            keys = {}
            for k in jwks.get("keys", []):
                if k.get("kty") != "EC" or k.get("crv") != "P-256" or k.get("use", "sig") != "sig":
                    continue
                if k.get("alg", ALGORITHM) != ALGORITHM or not k.get("kid"):
                    continue
                keys[k["kid"]] = jwt.PyJWK(k, algorithm=ALGORITHM).key
        except Exception:  # network, JSON, key errors: keep what we had
            return
        if keys:
            self._keys = keys
            self._fetched_at = now

    def key(self, kid):
        """The public key for kid, or None."""
        with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at >= self._ttl
            may_refetch = self._last_attempt is None or now - self._last_attempt >= self._min_refetch
            if (stale or kid not in self._keys) and may_refetch:
                self._refresh(now)
            return self._keys.get(kid)


class AirgateVerifier:
    """Checks an X-Airgate-Assertion: ES256 signature by a key in airgate's JWKS (selected by
    `kid`), `iss` = airgate's public_url, `aud` = assertion.audience, and the validity window
    (`exp`, `nbf`, `iat` with `leeway` seconds of clock skew)."""

    def __init__(self, jwks_url=None, issuer=None, audience="airflow", leeway=30, jwks=None):
        if not issuer:
            raise ValueError("AirgateVerifier needs the issuer (airgate's public_url)")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
        self.jwks = jwks or JwksCache(url=jwks_url)

    def verify(self, token):
        """Returns the claims of a valid assertion; raises AssertionRejected otherwise."""
        if not token:
            raise AssertionRejected("no %s header: the request did not come through airgate" % HEADER)
        if isinstance(token, bytes):
            token = token.decode("ascii", "replace")
        if len(token) > MAX_TOKEN_BYTES:
            raise AssertionRejected("assertion too large")
        parts = token.split(".")
        if len(parts) != 3 or not all(canonical_b64url(p) for p in parts):
            raise AssertionRejected("malformed assertion: not three canonical base64url parts")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as e:
            raise AssertionRejected("malformed assertion: %s" % e) from None
        if header.get("alg") != ALGORITHM:
            raise AssertionRejected("assertion alg %r is not %s" % (header.get("alg"), ALGORITHM))
        for h in ("jku", "jwk", "x5u", "x5c"):
            if h in header:
                raise AssertionRejected("assertion header %r is not accepted" % h)
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AssertionRejected("assertion has no kid")
        key = self.jwks.key(kid)
        if key is None:
            raise AssertionRejected("assertion signed by unknown key %r" % kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise AssertionRejected("assertion expired") from None
        except jwt.InvalidTokenError as e:
            raise AssertionRejected("assertion invalid: %s" % e) from None
        for name in ("roles", "groups"):
            v = claims.get(name, [])
            if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
                raise AssertionRejected("assertion claim %r is not a list of strings" % name)
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise AssertionRejected("assertion has no subject")
        return claims


def user_info(claims):
    """What Airflow's user record needs, from verified claims: username (preferred_username, else
    sub), first/last name, email (FAB requires one: a placeholder under .invalid when the IdP
    has none) and the Airflow role names."""
    username = claims.get("preferred_username") or claims["sub"]
    email = claims.get("email") or "%s@users.airgate.invalid" % username
    return {
        "username": username,
        "first_name": claims.get("given_name") or username,
        "last_name": claims.get("family_name") or "",
        "email": email,
        "roles": list(claims.get("roles", [])),
        "groups": list(claims.get("groups", [])),
    }


def main(argv=None):
    """Command line, for operators and tests: verifies one assertion (argument or stdin, "-")
    against airgate's JWKS and prints the claims as JSON. Exit 0 valid, 1 rejected, 2 usage."""
    import argparse
    import sys

    p = argparse.ArgumentParser(description="Verify an X-Airgate-Assertion.")
    p.add_argument("--jwks-url", required=True, help="airgate's /.well-known/airgate/jwks.json")
    p.add_argument("--issuer", required=True, help="airgate's public_url")
    p.add_argument("--audience", default="airflow", help="airgate's assertion.audience")
    p.add_argument("--leeway", type=int, default=30)
    p.add_argument("token", help='the assertion, or "-" to read it from stdin')
    a = p.parse_args(argv)
    token = sys.stdin.read().strip() if a.token == "-" else a.token
    v = AirgateVerifier(jwks_url=a.jwks_url, issuer=a.issuer, audience=a.audience, leeway=a.leeway)
    try:
        claims = v.verify(token)
    except AssertionRejected as e:
        print("rejected: %s" % e, file=sys.stderr)
        return 1
    print(json.dumps({"claims": claims, "user": user_info(claims)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
