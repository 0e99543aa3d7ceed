#!/usr/bin/env python3
"""Writes the hand-made seeds of corpus/{config,session,redirect,rolemap,proxy_headers} (the
inputs each fuzz target's header describes). The corpora also hold inputs found by fuzzing and
minimised with `-merge=1` (see docs/fuzzing.md); this script only adds files, never removes.
Standard library only. Run from anywhere: python3 tests/fuzz_replay/make_seeds_parsers.py"""
import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(kind, content):
    data = content.encode() if isinstance(content, str) else content
    name = "seed-" + hashlib.sha1(data).hexdigest()[:12]
    os.makedirs(os.path.join(HERE, "corpus", kind), exist_ok=True)
    with open(os.path.join(HERE, "corpus", kind, name), "wb") as f:
        f.write(data)


GOOD = """listen: "127.0.0.1:4180"
public_url: "https://airflow.example.com"
trusted_proxies: ["35.191.0.0/16", "130.211.0.0/22", "::1/128"]
oidc:
  issuer: "https://sso.example.com/realms/data"
  client_id: "airflow"
  client_secret_file: "secrets/client-secret"
  scopes: ["openid", "profile", "email"]
  allowed_algs: ["RS256", "PS256", "ES256"]
  leeway_s: 60
session:
  cookie_name: "_airgate"
  cookie_secret_file: "secrets/cookie-secret"
  lifetime_s: 86400
roles:
  claims: ["resource_access.airflow.roles", 'realm_access.roles']
  map: { airflow_admin: Admin, airflow_op: [Op, User], airflow_user: User, airflow_viewer: Viewer }
  unmapped: deny
upstreams:
  servers: ["http://10.0.0.120:8080", "http://10.0.0.121:8080"]
  health_path: "/health"
"""

MINIMAL = """public_url: "http://localhost:4180"
oidc: {issuer: "http://127.0.0.1:8080/realms/r", client_id: c, client_secret: s3cr3t}
session: {cookie_secret: "0123456789abcdef0123456789abcdef0123"}
upstreams: {servers: ["http://127.0.0.1:8081"]}
roles: {map: {airflow_admin: Admin}}
"""


def config():
    write("config", GOOD)
    write("config", MINIMAL)
    write("config", "#!AIRGATE_OIDC_CLIENT_ID=from-env\n#!AIRGATE_UPSTREAMS_SERVERS=http://a:1,http://b:2\n" + MINIMAL)
    write("config", "#!AIRGATE_SESSION_COOKIE_SECRET_FILE=secrets/cookie-secret\n#!AIRGATE_LOG_LEVEL=debug\n" + MINIMAL)
    write("config", MINIMAL + "tls: {cert_file: missing.crt, key_file: missing.key}\n")
    write("config", MINIMAL + "unknown_key: 1\n")
    write("config", MINIMAL + "session: {lifetime_s: -5}\n")  # duplicate key
    write("config", MINIMAL.replace("4180", "99999"))
    write("config", MINIMAL + "server: {max_header_bytes: 99999999999999999999999}\n")
    write("config", MINIMAL.replace("roles: {", "roles: {claims: ['a..b', 'x[0]'], unmapped: Nope, "))
    write("config", MINIMAL.replace("{airflow_admin: Admin}", "{'': Admin, x: [], y: {z: 1}}"))
    write("config", MINIMAL + "trusted_proxies: ['10.0.0.0/33', 'fe80::/129', 'nonsense']\n")
    # billion laughs, deep nesting, tags, several documents, a huge scalar, bad UTF-8, NUL
    write("config", 'a: &a ["lol","lol"]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b,*b]\n')
    write("config", "a: " + "[" * 40 + "]" * 40 + "\n")
    write("config", "a: " + "{b: " * 30 + "1" + "}" * 30 + "\n")
    write("config", "listen: !!binary aGVsbG8=\n")
    write("config", MINIMAL + "---\n" + MINIMAL)
    write("config", "public_url: \"" + "x" * 5000 + "\"\n")
    write("config", b"listen: \"\xc0\xaf\"\n")
    write("config", b"listen: \"a\x00b\"\n")
    write("config", "- just\n- a list\n")
    write("config", "")
    write("config", "oidc:\n  client_secret: a\n  client_secret_file: secrets/client-secret\n")
    write("config", "session:\n  cookie_secret_file: /dev/null\n  previous_cookie_secrets_file: [secrets/cookie-secret, nope]\n")


def session():
    # raw: query line, then one Cookie header per line
    write("session", "state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code=abc\n_airgate=AQ" + "A" * 60)
    write("session", "\n_airgate_0=AQAAAAAAAAAAAAAAAAAAAAA; _airgate_1=BBBBBBBBBBBBBBBBBBBBBB\n_airgate_2=CCCC")
    write("session", "\n_airgate_0=AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
    write("session", "\n" + "; ".join("_airgate_%d=AAAA" % i for i in range(10)))
    write("session", "\n_airgate=\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"; other=1")
    write("session", "\n_airgate=; _airgate_0=x;;; =; ;a;b=c;_airgate")
    write("session", "state=AAAAAAAAAAAAAAAAAAAA&x\n_airgate_login_AAAAAAAAAAAAAAAA=AQ" + "B" * 80
          + "; _airgate_login_BBBBBBBBBBBBBBBB=xyz; _airgate_login_!!=1")
    write("session", "state=%41%41%41%41AAAAAAAAAAAAAAAAAAAAA+%00\n_airgate_login_" + "A" * 16 + "=")
    write("session", "state=" + "A" * 300 + "\n")
    write("session", "\n_airgate=!!!notbase64!!!")
    # sealed: 'S' flags json  /  'L' json
    good = ('{"v":1,"iss":"https://sso.example.com/realms/data","sub":"u1","user":"alice",'
            '"email":"a@example.com","fn":"Al","ln":"Ice","idp":["airflow_admin"],"roles":["Admin"],'
            '"ok":true,"idt":"e30.e30.sig","rt":"rt","aexp":1700000300,"rexp":1700001800,'
            '"c":1699999000,"seen":1699999900}')
    write("session", "S\x00" + good)
    write("session", "S\x03" + good)
    write("session", "S\x87" + good)
    write("session", "S\x00" + good.replace('"c":1699999000', '"c":1600000000'))
    write("session", "S\x00" + good.replace('"user":"alice"', '"user":""'))
    write("session", "S\x00" + good.replace('"idp":["airflow_admin"]', '"idp":[1,2]'))
    write("session", "S\x00" + good.replace('"v":1', '"v":2'))
    write("session", "S\x00" + '{"v":1,"user":"a\\u0000b","c":1699999999,"seen":1699999999,"ok":1}')
    write("session", "S\x01[1,2,3]")
    write("session", "S\x00" + '{"v":1,"v":1}')
    lg = ('{"s":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","n":"nonce","v":"verifier",'
          '"rd":"/home?x=1","c":1699999900}')
    write("session", "L" + lg)
    write("session", "L" + lg.replace('"rd":"/home?x=1"', '"rd":"//evil.example"'))
    write("session", "L" + lg.replace('"c":1699999900', '"c":1600000000'))
    write("session", "L" + lg.replace('"s":"AAAA', '"s":"AAAB'))
    write("session", 'L{"s":1}')


def redirect():
    for rd in ["/", "/home", "/dags/x/grid?tab=graph#n", "//evil.example", "/\\evil.example",
               "/%2F/evil.example", "/%252F%252Fevil.example", "/%5Cevil", "https://evil.example/",
               "javascript:alert(1)", "/%0d%0aSet-Cookie:x=1", "/\t/evil.example", "/%C3%A9t%C3%A9",
               "/%ED%A0%80", "/%", "/%4", "/%41", "/%25", "/%2525252F", "/a b", "/" + "a" * 2047,
               "/" + "a" * 2048, "rd=%2Fhome%3Fa%3Db", "x=1&rd=/dags", "rd=//evil", "rd=%2F%2Fevil",
               "rd=/ok&rd=//evil", "rd=%00", "rd=+/", "rd=/%2F%2Fevil", "/?next=//evil", "/.//evil",
               "/;@evil.example", "/@evil.example"]:
        write("redirect", rd)


def rolemap():
    claims = ('{"sub":"u1","preferred_username":"alice","email":"a@example.com","given_name":"Al",'
              '"family_name":"Ice","resource_access":{"airflow":{"roles":["airflow_admin",'
              '"airflow_op"]}},"realm_access":{"roles":["offline_access","data.team"]},'
              '"groups":"airflow_viewer"}')
    for path in ["resource_access.airflow.roles", 'resource_access."airflow.prod".roles',
                 '"a\\"b".c', '"a\\\\b"', "a..b", "a.", ".a", 'a."b"c', '"unterminated',
                 "x[0].roles", "a b", '""', "é.ü", ".".join("s%d" % i for i in range(17)),
                 "a" * 513, '"\\x"', "groups"]:
        write("rolemap", path + "\n" + claims)
    write("rolemap", "groups\n" + claims.replace('"groups":"airflow_viewer"', '"groups":["x","x","y"]'))
    write("rolemap", "groups\n{\"sub\":\"s\"}")
    write("rolemap", "groups\n{\"preferred_username\":\"a\\u0000b\"}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"groups\":[\"a\\u0000b\"]}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"groups\":[\"\\u0085\"]}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"groups\":[1,{}]}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"groups\":{\"a\":1}}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"groups\":[" + ",".join('"r%d"' % i for i in range(1100)) + "]}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"groups\":[\"" + "r" * 300 + "\"]}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"realm_access\":[1]}")
    write("rolemap", "groups\n[1,2]")
    write("rolemap", "groups\n{\"sub\":5}")
    write("rolemap", "groups\n{\"sub\":\"s\",\"email\":\"" + "e" * 1100 + "\"}")


def proxy_headers():
    write("proxy_headers", "Host: airflow\nX-Forwarded-User: admin\nx_forwarded_user: admin\n"
          "X-FORWARDED-EMAIL: a@b\nX-Airflow-Roles: Admin\nx-airgate-assertion: e30\n"
          "Forwarded: for=1.2.3.4\nX-Real-IP: 1.2.3.4\nCookie: _airgate=abc; a=b\n")
    write("proxy_headers", "Connection: keep-alive, X-Custom, host\nX-Custom: 1\nKeep-Alive: 5\n"
          "Transfer-Encoding: chunked\nTE: trailers\nUpgrade: websocket\nHost: h\n")
    write("proxy_headers", "Cookie: _airgate_0=a;_airgate_1=b; session=x; _airgate_login_AAAA=1; "
          "_airgate2=keep; _airgatex=keep\n")
    write("proxy_headers", "Cookie:  _airgate =x ;\t_airgate\t= y; ;;=; a\n")
    write("proxy_headers", "X-Forwarded-For: 10.0.0.1, 10.0.0.2 , \nX-Forwarded-For:\n")
    write("proxy_headers", "X-Forwarded-\nX-Forwarded\nX-Forwarded-Usr: x\nX_FORWARDED_GROUPS: Admin\n")
    write("proxy_headers", "Proxy-Authorization: Basic x\nProxy-Connection: close\nConnection: ,,,\n")


if __name__ == "__main__":
    config()
    session()
    redirect()
    rolemap()
    proxy_headers()
