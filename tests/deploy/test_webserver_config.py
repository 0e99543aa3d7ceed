"""deploy/airflow/webserver_config.py in a real Flask app with real Flask-Login (Debian's
python3-flask, python3-flask-login) and assertions from airgate's signer. Airflow and
Flask-AppBuilder are not packaged in Debian: the FAB security-manager base class is a stand-in
with the methods the file uses (find_role, find_user, add_user, update_user, before_request).

Usage: test_webserver_config.py SOURCE_DIR ASSERTION_TOOL
Exits 77 (skip) when Flask, Flask-Login, PyJWT or cryptography is not importable.
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
import types
import unittest

try:
    import cryptography  # noqa: F401
    import flask
    import flask_login
    import jwt  # noqa: F401
except ImportError as e:
    print("SKIP: %s (install python3-flask python3-flask-login python3-jwt python3-cryptography)" % e)
    sys.exit(77)

SOURCE_DIR, TOOL = sys.argv[1], sys.argv[2]
ISS = "https://airflow.example.com"
HEADER = "X-Airgate-Assertion"


class Role:
    def __init__(self, name):
        self.name = name


class User(flask_login.UserMixin):
    def __init__(self, uid, username, first_name, last_name, email, roles):
        self.id = uid
        self.username, self.first_name, self.last_name = username, first_name, last_name
        self.email, self.roles, self.active = email, list(roles), True


class StandInSecurityManager:
    """The slice of FAB's SecurityManager that webserver_config.py relies on."""

    def __init__(self):
        self.roles = {n: Role(n) for n in ("Admin", "Op", "User", "Viewer", "Public")}
        self.users = {}
        self.added = 0
        self.updated = 0

    def before_request(self):
        flask.g.user = flask_login.current_user

    def find_role(self, name):
        return self.roles.get(name)

    def find_user(self, username=None):
        return self.users.get(username)

    def add_user(self, username, first_name, last_name, email, role, password=""):
        u = User(len(self.users) + 1, username, first_name, last_name, email, role)
        self.users[username] = u
        self.added += 1
        return u

    def update_user(self, user):
        self.updated += 1

    def load_user(self, uid):
        return next((u for u in self.users.values() if u.id == int(uid)), None)


def install_stubs():
    fab_manager = types.ModuleType("flask_appbuilder.security.manager")
    fab_manager.AUTH_REMOTE_USER = 3
    override = types.ModuleType("airflow.providers.fab.auth_manager.security_manager.override")
    override.FabAirflowSecurityManagerOverride = StandInSecurityManager
    mods = {
        "flask_appbuilder": types.ModuleType("flask_appbuilder"),
        "flask_appbuilder.security": types.ModuleType("flask_appbuilder.security"),
        "flask_appbuilder.security.manager": fab_manager,
        "airflow": types.ModuleType("airflow"),
        "airflow.providers": types.ModuleType("airflow.providers"),
        "airflow.providers.fab": types.ModuleType("airflow.providers.fab"),
        "airflow.providers.fab.auth_manager": types.ModuleType("airflow.providers.fab.auth_manager"),
        "airflow.providers.fab.auth_manager.security_manager": types.ModuleType(
            "airflow.providers.fab.auth_manager.security_manager"),
        "airflow.providers.fab.auth_manager.security_manager.override": override,
    }
    sys.modules.update(mods)


class WebserverConfigTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.secret = os.path.join(cls.tmp.name, "secret")
        with open(cls.secret, "w") as f:
            f.write("cookie-secret-shared-by-the-airgate-replicas-0123")
        jwks = subprocess.run([TOOL, "jwks", "--secret-file", cls.secret], check=True,
                              capture_output=True, text=True, timeout=30).stdout
        jwks_file = os.path.join(cls.tmp.name, "jwks.json")
        with open(jwks_file, "w") as f:
            f.write(jwks)
        os.environ.update(AIRGATE_JWKS_URL="file://" + jwks_file, AIRGATE_ISSUER=ISS,
                          AIRGATE_AUDIENCE="airflow")
        install_stubs()
        path = os.path.join(SOURCE_DIR, "deploy", "airflow", "webserver_config.py")
        spec = importlib.util.spec_from_file_location("webserver_config", path)
        cls.wc = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(cls.wc)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def setUp(self):
        self.sm = self.wc.AirgateSecurityManager()
        app = flask.Flask("airflow-standin")
        app.secret_key = "flask-session-key-for-the-test"
        lm = flask_login.LoginManager(app)
        lm.user_loader(self.sm.load_user)
        app.before_request(self.sm.before_request)

        @app.route("/home")
        def home():
            u = flask_login.current_user
            return flask.jsonify(user=u.username, roles=sorted(r.name for r in u.roles),
                                 g_user=flask.g.user.username, email=u.email,
                                 name=[u.first_name, u.last_name])

        @app.route("/health")
        def health():
            return "healthy"

        self.client = app.test_client()
        self.logins = []
        real_login = flask_login.login_user

        def counting_login(user, **kw):
            self.logins.append(user.username)
            return real_login(user, **kw)

        self.wc.login_user = counting_login

    def assertion(self, user="alice", roles=("Admin",), aud="airflow", now=None, given="Alice"):
        args = [TOOL, "sign", "--secret-file", self.secret, "--iss", ISS, "--aud", aud,
                "--now", str(int(time.time()) if now is None else now), "--sub", "sub-" + user,
                "--user", user, "--email", user + "@example.com", "--given", given,
                "--family", "Liddell"]
        for r in roles:
            args += ["--role", r]
        return subprocess.run(args, check=True, capture_output=True, text=True,
                              timeout=30).stdout.strip()

    def get(self, token=None, path="/home"):
        return self.client.get(path, headers={HEADER: token} if token else {})

    def test_settings(self):
        self.assertEqual(self.wc.AUTH_TYPE, 3)
        self.assertIs(self.wc.SECURITY_MANAGER_CLASS, self.wc.AirgateSecurityManager)
        self.assertFalse(self.wc.AUTH_USER_REGISTRATION)

    def test_no_assertion_is_401_but_health_is_open(self):
        self.assertEqual(self.get().status_code, 401)
        self.assertEqual(self.get(path="/health").status_code, 200)
        self.assertEqual(self.sm.added, 0)

    def test_first_request_registers_user_with_name_email_roles(self):
        r = self.get(self.assertion())
        self.assertEqual(r.status_code, 200, r.data)
        body = r.get_json()
        self.assertEqual(body["user"], "alice")
        self.assertEqual(body["g_user"], "alice")
        self.assertEqual(body["email"], "alice@example.com")
        self.assertEqual(body["name"], ["Alice", "Liddell"])
        self.assertEqual(body["roles"], ["Admin"])
        self.assertEqual(self.sm.added, 1)

    def test_session_reused_without_database_writes(self):
        tok = self.assertion()
        for _ in range(3):
            self.assertEqual(self.get(tok).status_code, 200)
        self.assertEqual((self.sm.added, self.sm.updated), (1, 0))
        self.assertEqual(self.logins, ["alice"], "Flask-Login session not reused")

    def test_roles_and_names_synced_when_they_change(self):
        self.get(self.assertion(roles=("Admin",)))
        r = self.get(self.assertion(roles=("Viewer", "Op"), given="Alicia"))
        self.assertEqual(r.get_json()["roles"], ["Op", "Viewer"])
        self.assertEqual(r.get_json()["name"][0], "Alicia")
        self.assertEqual((self.sm.added, self.sm.updated), (1, 1))
        self.assertEqual(self.logins, ["alice"], "a role change must not need a new login")

    def test_other_person_replaces_the_airflow_session(self):
        self.get(self.assertion(user="alice"))
        r = self.get(self.assertion(user="bob", roles=("User",)))
        self.assertEqual(r.get_json()["user"], "bob")
        self.assertEqual(r.get_json()["roles"], ["User"])
        self.assertEqual(self.sm.added, 2)
        self.assertEqual(self.logins, ["alice", "bob"])

    def test_invalid_assertion_logs_out(self):
        self.assertEqual(self.get(self.assertion()).status_code, 200)
        self.assertEqual(self.get(self.assertion(aud="other")).status_code, 401)
        self.assertEqual(self.get(self.assertion(now=int(time.time()) - 3600)).status_code, 401)
        # The Flask session cookie alone does not let anyone in.
        self.assertEqual(self.get().status_code, 401)

    def test_no_known_role_is_403(self):
        self.assertEqual(self.get(self.assertion(roles=("NoSuchRole",))).status_code, 403)
        self.assertEqual(self.get(self.assertion(roles=())).status_code, 403)
        self.assertEqual(self.sm.added, 0)

    def test_forged_identity_headers_alone_are_ignored(self):
        r = self.client.get("/home", headers={"X-Forwarded-User": "admin",
                                              "X-Airflow-Roles": "Admin",
                                              "Remote-User": "admin"})
        self.assertEqual(r.status_code, 401)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
