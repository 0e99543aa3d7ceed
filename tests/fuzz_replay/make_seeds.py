#!/usr/bin/env python3
"""Regenerates the seed corpora in corpus/jws and corpus/jwks from the Wycheproof vectors in
tests/data/wycheproof, plus JWTs signed with Wycheproof's ES256 test key so that the claims
checks of fuzz_jws are reached. Run from anywhere: python3 tests/fuzz_replay/make_seeds.py"""
import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data", "wycheproof")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def write(kind, content):
    data = content.encode() if isinstance(content, str) else content
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(HERE, "corpus", kind, name), "wb") as f:
        f.write(data)


def main():
    sig = json.load(open(os.path.join(DATA, "json_web_signature_test.json")))
    keys = json.load(open(os.path.join(DATA, "json_web_key_test.json")))
    ec_priv = None
    for doc in (sig, keys):
        for g in doc["testGroups"]:
            for which in ("public", "private"):
                if which in g:
                    k = g[which]
                    write("jwks", json.dumps(k if "keys" in k else {"keys": [k]}))
            if g["comment"] == "es256" and ec_priv is None:
                ec_priv = g["private"]
            for t in g["tests"][:6]:
                write("jws", t["jws"])
                write("jws", "!" + t["jws"])
    d = int.from_bytes(base64.urlsafe_b64decode(ec_priv["d"] + "=="), "big")
    key = ec.derive_private_key(d, ec.SECP256R1())
    iss = "https://sso.example.com/realms/data"
    claims = [
        {"iss": iss, "aud": "airflow", "sub": "u1", "exp": 1700000300, "iat": 1699999990},
        {"iss": iss, "aud": ["account", "x"], "azp": "airflow", "exp": 1700000300},
        {"iss": iss, "aud": "airflow", "exp": 1699990000},
        {"iss": iss, "aud": "airflow", "exp": "1700000300"},
        {"iss": iss, "aud": "airflow", "exp": 1700000300, "nbf": 1700001000},
    ]
    headers = [
        {"alg": "ES256", "kid": "kid-ec-sign", "typ": "JWT"},
        {"alg": "ES256"},
        {"alg": "ES256", "kid": "kid-ec-sign", "crit": ["x"]},
        {"alg": "ES256", "kid": "kid-ec-sign", "jku": "http://127.0.0.1:9/"},
    ]
    for h in headers:
        for c in claims:
            si = b64(json.dumps(h).encode()) + "." + b64(json.dumps(c).encode())
            r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
            write("jws", si + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    for junk in ["", ".", "..", "a.b.c", "e30.e30.", "eyJhbGciOiJub25lIn0.e30."]:
        write("jws", junk)
    for junk in ["", "{}", "[]", '{"keys":[{}]}', '{"keys":[],"keys":[]}']:
        write("jwks", junk)


if __name__ == "__main__":
    main()
