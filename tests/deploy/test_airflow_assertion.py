"""deploy/airflow/airgate_assertion.py against assertions made by airgate's own signer
(tests/deploy/assertion_tool.c, linked with auth/assertion.c).

Usage: test_airflow_assertion.py SOURCE_DIR ASSERTION_TOOL
Exits 77 (skip) when PyJWT or cryptography is not importable.
"""

import base64
import hashlib
import hmac
import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

try:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.hashes import SHA256
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError as e:
    print("SKIP: PyJWT/cryptography not importable (%s); install python3-jwt python3-cryptography" % e)
    sys.exit(77)

SOURCE_DIR, TOOL = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SOURCE_DIR, "deploy", "airflow"))
import airgate_assertion as aa  # noqa: E402

ISS = "https://airflow.example.com"
SECRET = "0123456789abcdef0123456789abcdef-shared-by-all-replicas"
OTHER = "another-secret-another-secret-another-secret-0000"
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Tool:
    def __init__(self, tmp):
        self.tmp = tmp
        self.files = {}

    def secret_file(self, secret):
        if secret not in self.files:
            path = os.path.join(self.tmp, "secret-%d" % len(self.files))
            with open(path, "w") as f:
                f.write(secret)
            self.files[secret] = path
        return self.files[secret]

    def run(self, *args, secret=SECRET):
        out = subprocess.run(
            [TOOL, *args, "--secret-file", self.secret_file(secret)],
            check=True, capture_output=True, text=True, timeout=30,
        )
        return out.stdout.strip()

    def jwks(self, secret=SECRET):
        return self.run("jwks", secret=secret)

    def sign(self, secret=SECRET, now=None, aud="airflow", iss=ISS, ttl=120, extra=()):
        now = int(time.time()) if now is None else now
        return self.run(
            "sign", "--now", str(now), "--aud", aud, "--iss", iss, "--ttl", str(ttl),
            "--sub", "f3a1-0001", "--user", "alice", "--email", "alice@example.com",
            "--given", "Alice", "--family", "Liddell",
            "--role", "Admin", "--role", "Viewer", "--group", "airflow_admin", *extra,
            secret=secret,
        )


class StaticJwks:
    """A JwksCache fed from a string, counting fetches."""

    def __init__(self, doc, **kw):
        self.doc = doc
        self.cache = aa.JwksCache(fetch=lambda: self.doc, **kw)

    def key(self, kid):
        return self.cache.key(kid)


class AssertionTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmpdir = tempfile.TemporaryDirectory()
        cls.tool = Tool(cls.tmpdir.name)
        cls.jwks_doc = cls.tool.jwks()

    @classmethod
    def tearDownClass(cls):
        cls.tmpdir.cleanup()

    def verifier(self, **kw):
        return aa.AirgateVerifier(issuer=ISS, audience="airflow", leeway=30,
                                  jwks=StaticJwks(self.jwks_doc).cache, **kw)

    def rejected(self, token, why, verifier=None):
        with self.assertRaises(aa.AssertionRejected) as cm:
            (verifier or self.verifier()).verify(token)
        self.assertIn(why, str(cm.exception))

    def test_valid_assertion_accepted_and_mapped(self):
        claims = self.verifier().verify(self.tool.sign())
        self.assertEqual(claims["iss"], ISS)
        self.assertEqual(claims["aud"], "airflow")
        self.assertEqual(claims["roles"], ["Admin", "Viewer"])
        self.assertEqual(claims["exp"] - claims["iat"], 120)
        self.assertEqual(claims["nbf"], claims["iat"])
        info = aa.user_info(claims)
        self.assertEqual(info["username"], "alice")
        self.assertEqual(info["email"], "alice@example.com")
        self.assertEqual((info["first_name"], info["last_name"]), ("Alice", "Liddell"))
        self.assertEqual(info["roles"], ["Admin", "Viewer"])
        self.assertEqual(info["groups"], ["airflow_admin"])

    def test_non_canonical_base64url_rejected(self):
        # Wycheproof's invalidBase64Padding / ModifiedUnusedBits cases, on a real assertion:
        # the same bytes spelled another way must not verify (PyJWT alone would accept them).
        tok = self.tool.sign()
        self.verifier().verify(tok)
        h, p, s = tok.split(".")
        last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        stray = s[:-1] + last[last.index(s[-1]) | 1]  # ES256 sig: 86 chars, 4 unused bits
        for bad in ("%s.%s.%s=" % (h, p, s), "%s.%s==.%s" % (h, p, s), "%s.%s.%s" % (h, p, stray),
                    "%s.%s.%s" % (h, p, s.replace("-", "+").replace("_", "/")),
                    "%s .%s.%s" % (h, p, s), "%s.%s.%s" % (h, p, s + "A" * 3)):
            if bad != tok:
                self.rejected(bad, "malformed assertion")
        self.assertTrue(aa.canonical_b64url("VGVzdA"))
        self.assertFalse(aa.canonical_b64url("VGVzdA=="))
        self.assertFalse(aa.canonical_b64url("VGVzdB"))  # stray low bits
        self.assertFalse(aa.canonical_b64url("AB"[:1]))  # impossible length

    def test_identity_header_encoding_agrees_with_airgate(self):
        # the vectors of tests/unit/proxy/test_headers.c, decoded
        self.assertEqual(aa.split_identity_list("viewer,team_x%2Cairflow_admin,100%25,caf\u00e9"),
                         ["viewer", "team_x,airflow_admin", "100%", "caf\u00e9"])
        self.assertEqual(aa.split_identity_list(""), [])
        self.assertEqual(aa.split_identity_list(None), [])
        self.assertEqual(aa.decode_identity_value("x%0D%0AX-Airflow-Roles: Admin"),
                         "x\r\nX-Airflow-Roles: Admin")
        self.assertEqual(aa.decode_identity_value("bad%FF"), "bad\ufffd")
        claims = {"sub": "s1", "preferred_username": "a,b", "groups": ["team_x,airflow_admin"],
                  "roles": ["Viewer"]}
        aa.check_identity_headers(claims, {"X-Forwarded-Groups": "team_x%2Cairflow_admin",
                                           "X-Airflow-Roles": "Viewer", "X-Forwarded-User": "a%2Cb"})
        aa.check_identity_headers(claims, {})  # headers absent: nothing to compare
        for forged in ({"X-Forwarded-Groups": "team_x,airflow_admin"},
                       {"X-Airflow-Roles": "Viewer,Admin"}, {"X-Forwarded-User": "root"}):
            with self.assertRaises(aa.AssertionRejected):
                aa.check_identity_headers(claims, forged)

    def test_expired_rejected(self):
        self.rejected(self.tool.sign(now=int(time.time()) - 1000), "expired")

    def test_expired_within_leeway_accepted(self):
        self.verifier().verify(self.tool.sign(now=int(time.time()) - 130))

    def test_not_yet_valid_rejected(self):
        self.rejected(self.tool.sign(now=int(time.time()) + 600), "invalid")

    def test_wrong_key_rejected(self):
        self.rejected(self.tool.sign(secret=OTHER), "unknown key")

    def test_wrong_key_same_kid_rejected(self):
        """A token from another key presenting airgate's kid fails on the signature."""
        other = self.tool.sign(secret=OTHER)
        mine = self.tool.sign()
        forged = mine.split(".")[0] + "." + ".".join(other.split(".")[1:])
        self.rejected(forged, "Signature verification failed")

    def test_wrong_audience_rejected(self):
        self.rejected(self.tool.sign(aud="another-app"), "audience")

    def test_wrong_issuer_rejected(self):
        self.rejected(self.tool.sign(iss="https://evil.example.com"), "issuer")

    def test_missing_rejected(self):
        self.rejected(None, "no X-Airgate-Assertion")
        self.rejected("", "no X-Airgate-Assertion")

    def test_malformed_rejected(self):
        for bad in ("abc", "a.b.c", "....", "eyJhbGciOiJFUzI1NiJ9.e30", "x" * 70000):
            with self.assertRaises(aa.AssertionRejected):
                self.verifier().verify(bad)

    def test_tampered_payload_rejected(self):
        h, p, s = self.tool.sign().split(".")
        claims = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
        claims["roles"] = ["Admin", "Op"]
        p2 = b64url(json.dumps(claims).encode())
        self.rejected("%s.%s.%s" % (h, p2, s), "Signature verification failed")

    def test_alg_none_rejected(self):
        kid = json.loads(self.jwks_doc)["keys"][0]["kid"]
        h = b64url(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        p = b64url(json.dumps({"iss": ISS, "aud": "airflow", "sub": "x", "roles": ["Admin"],
                               "iat": int(time.time()), "nbf": int(time.time()),
                               "exp": int(time.time()) + 60}).encode())
        self.rejected("%s.%s." % (h, p), "alg")

    def test_hs256_key_confusion_rejected(self):
        """HS256 with the public JWK (or its x coordinate) as the MAC key must not pass."""
        kid = json.loads(self.jwks_doc)["keys"][0]["kid"]
        h = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        p = b64url(json.dumps({"iss": ISS, "aud": "airflow", "sub": "x", "roles": ["Admin"],
                               "iat": int(time.time()), "nbf": int(time.time()),
                               "exp": int(time.time()) + 60}).encode())
        mac = hmac.new(self.jwks_doc.encode(), ("%s.%s" % (h, p)).encode(), hashlib.sha256)
        self.rejected("%s.%s.%s" % (h, p, b64url(mac.digest())), "alg")

    def test_embedded_jwk_header_rejected(self):
        token = self.tool.sign()
        h, p, s = token.split(".")
        hdr = json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4)))
        hdr["jku"] = "https://evil.example.com/jwks.json"
        self.rejected("%s.%s.%s" % (b64url(json.dumps(hdr).encode()), p, s), "jku")

    def test_derived_key_matches_documented_derivation(self):
        """docs/assertion.md: HKDF-SHA256(secret, no salt, info) -> 40 bytes c,
        d = c mod (n - 1) + 1. Recomputed here with Python's cryptography."""
        okm = HKDF(algorithm=SHA256(), length=40, salt=None,
                   info=b"airgate assertion key v1").derive(SECRET.encode())
        d = int.from_bytes(okm, "big") % (P256_N - 1) + 1
        pub = ec.derive_private_key(d, ec.SECP256R1()).public_key().public_numbers()
        k = json.loads(self.jwks_doc)["keys"][0]
        self.assertEqual(k["x"], b64url(pub.x.to_bytes(32, "big")))
        self.assertEqual(k["y"], b64url(pub.y.to_bytes(32, "big")))
        canon = json.dumps({"crv": "P-256", "kty": "EC", "x": k["x"], "y": k["y"]},
                           separators=(",", ":"), sort_keys=True)
        self.assertEqual(k["kid"], b64url(hashlib.sha256(canon.encode()).digest()))
        self.assertEqual((k["use"], k["alg"]), ("sig", "ES256"))

    def test_same_secret_same_key_across_replicas(self):
        self.assertEqual(self.tool.jwks(), self.jwks_doc)
        self.assertNotEqual(self.tool.jwks(secret=OTHER), self.jwks_doc)

    def test_jwks_cache_refetch_rules(self):
        clock = [1000.0]
        src = StaticJwks(self.tool.jwks(secret=OTHER), ttl=300, min_refetch=30,
                         clock=lambda: clock[0])
        v = aa.AirgateVerifier(issuer=ISS, jwks=src.cache)
        token = self.tool.sign()
        self.rejected(token, "unknown key", v)
        self.assertEqual(src.cache.fetches, 1)
        src.doc = self.jwks_doc  # airgate's key changed (secret rotated)
        clock[0] += 10
        self.rejected(token, "unknown key", v)  # re-fetch is rate limited
        self.assertEqual(src.cache.fetches, 1)
        clock[0] += 30
        v.verify(token)
        self.assertEqual(src.cache.fetches, 2)
        v.verify(token)
        self.assertEqual(src.cache.fetches, 2, "known kid must not re-fetch")
        src.doc = "not json"  # airgate unreachable / broken: keep the last good keys
        clock[0] += 400
        v.verify(token)
        self.assertEqual(src.cache.fetches, 3)

    def test_jwks_fetched_over_http(self):
        doc = self.jwks_doc.encode()
        hits = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                hits.append(self.path)
                if self.path != "/.well-known/airgate/jwks.json":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(doc)))
                self.end_headers()
                self.wfile.write(doc)

            def log_message(self, *args):
                pass

        srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            url = "http://127.0.0.1:%d/.well-known/airgate/jwks.json" % srv.server_address[1]
            v = aa.AirgateVerifier(jwks_url=url, issuer=ISS)
            for _ in range(3):
                v.verify(self.tool.sign())
            self.assertEqual(hits, ["/.well-known/airgate/jwks.json"])
        finally:
            srv.shutdown()
            srv.server_close()

    def test_unicode_names_survive(self):
        token = self.tool.sign(extra=("--given", "Zoë", "--family", "山田 \"Yamada\""))
        info = aa.user_info(self.verifier().verify(token))
        self.assertEqual(info["first_name"], "Zoë")
        self.assertEqual(info["last_name"], "山田 \"Yamada\"")

    def test_webserver_config_compiles(self):
        """webserver_config.py needs Airflow to run; here it must at least be valid Python."""
        import py_compile
        path = os.path.join(SOURCE_DIR, "deploy", "airflow", "webserver_config.py")
        py_compile.compile(path, cfile=os.path.join(self.tmpdir.name, "wc.pyc"), doraise=True)

    def test_cli_exit_codes(self):
        token = self.tool.sign()
        jwks_file = os.path.join(self.tmpdir.name, "jwks.json")
        with open(jwks_file, "w") as f:
            f.write(self.jwks_doc)
        url = "file://" + jwks_file
        script = os.path.join(SOURCE_DIR, "deploy", "airflow", "airgate_assertion.py")
        ok = subprocess.run([sys.executable, script, "--jwks-url", url, "--issuer", ISS, token],
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        self.assertEqual(json.loads(ok.stdout)["user"]["username"], "alice")
        bad = subprocess.run([sys.executable, script, "--jwks-url", url, "--issuer", ISS,
                              "--audience", "x", token], capture_output=True, text=True, timeout=30)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("audience", bad.stderr)
        usage = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=30)
        self.assertEqual(usage.returncode, 2)

    def test_user_info_fallbacks(self):
        info = aa.user_info({"sub": "svc-1", "roles": []})
        self.assertEqual(info["username"], "svc-1")
        self.assertTrue(info["email"].endswith(".invalid"))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
