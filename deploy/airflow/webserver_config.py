"""Airflow 2.x webserver_config.py for Airflow behind airgate.

airgate runs the Keycloak login, maps Keycloak roles to Airflow roles and forwards each request
with a signed X-Airgate-Assertion. This file makes Airflow's Flask-AppBuilder (FAB) security
manager trust that assertion, and nothing else:

* every request must carry an assertion that verifies against airgate's JWKS
  (/.well-known/airgate/jwks.json), with airgate's issuer and the configured audience; plain
  identity headers (X-Forwarded-User, ...) are never trusted on their own;
* the user is registered on first sight with name and email, and the roles are synced from the
  assertion on every login (what AUTH_ROLES_SYNC_AT_LOGIN does in the usual AUTH_OAUTH recipe)
  and whenever the assertion's roles differ from the stored ones;
* when the assertion names a different user than Airflow's session cookie (another person
  signed in to airgate in the same browser), the old Airflow session is dropped.

Install: put this file and airgate_assertion.py next to each other in $AIRFLOW_HOME (Helm chart:
`webserver.webserverConfig`, plus airgate_assertion.py through `webserver.extraVolumes` or the
image), and set the environment below. Notes for Airflow 3: deploy/airflow/README.md.

Environment:
  AIRGATE_JWKS_URL   airgate's key set, reached directly (not through the load balancer), e.g.
                     http://airgate.airflow.svc.cluster.local:4180/.well-known/airgate/jwks.json
  AIRGATE_ISSUER     airgate's public_url, e.g. https://airflow.example.com
  AIRGATE_AUDIENCE   airgate's assertion.audience (default "airflow")
  AIRGATE_LEEWAY_S   clock skew tolerated, seconds (default 30)
"""

import logging
import os
import sys

from flask import abort, g, request
from flask_appbuilder.security.manager import AUTH_REMOTE_USER
from flask_login import current_user, login_user, logout_user

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from airgate_assertion import (  # noqa: E402
    HEADER,
    AirgateVerifier,
    AssertionRejected,
    check_identity_headers,
    user_info,
)

try:  # Airflow >= 2.9: the FAB security manager lives in the FAB provider
    from airflow.providers.fab.auth_manager.security_manager.override import (
        FabAirflowSecurityManagerOverride as _BaseSecurityManager,
    )
except ImportError:  # Airflow 2.0 - 2.8
    from airflow.www.security import AirflowSecurityManager as _BaseSecurityManager

log = logging.getLogger("airgate")

WTF_CSRF_ENABLED = True
AUTH_TYPE = AUTH_REMOTE_USER
# airgate decides who gets in and with which roles; FAB never registers users on its own.
AUTH_USER_REGISTRATION = False
AUTH_ROLES_SYNC_AT_LOGIN = True
# Paths that airgate (health checks) and the load balancer reach without an assertion.
AIRGATE_EXEMPT_PATHS = ("/health", "/api/v1/health", "/static/")

_verifier = AirgateVerifier(
    jwks_url=os.environ.get(
        "AIRGATE_JWKS_URL", "http://127.0.0.1:4180/.well-known/airgate/jwks.json"
    ),
    issuer=os.environ.get("AIRGATE_ISSUER", "https://airflow.example.com"),
    audience=os.environ.get("AIRGATE_AUDIENCE", "airflow"),
    leeway=int(os.environ.get("AIRGATE_LEEWAY_S", "30")),
)


class AirgateSecurityManager(_BaseSecurityManager):
    """Authenticates every request from its X-Airgate-Assertion."""

    def before_request(self):
        super().before_request()
        if request.path.startswith(AIRGATE_EXEMPT_PATHS):
            return
        try:
            claims = _verifier.verify(request.headers.get(HEADER))
            check_identity_headers(claims, request.headers)
        except AssertionRejected as e:
            log.warning("airgate: %s (path %s)", e, request.path)
            if current_user.is_authenticated:
                logout_user()
            abort(401)
        info = user_info(claims)
        if current_user.is_authenticated and current_user.username == info["username"]:
            # Same person: only touch the database when airgate's view of the roles changed
            # (airgate re-evaluates them at every login and token refresh).
            if sorted(r.name for r in current_user.roles) == sorted(set(info["roles"])):
                return
        elif current_user.is_authenticated:
            logout_user()  # a different person is signed in to airgate now
        user = self.airgate_sync_user(info)
        if user is None:
            if current_user.is_authenticated:
                logout_user()
            abort(403)
        if not (current_user.is_authenticated and current_user.username == user.username):
            login_user(user, remember=False)
        g.user = user

    def airgate_sync_user(self, info):
        """Creates or updates the FAB user from the assertion; roles replace the old ones."""
        roles = [r for r in (self.find_role(name) for name in info["roles"]) if r is not None]
        unknown = set(info["roles"]) - {r.name for r in roles}
        if unknown:
            log.warning("airgate: roles %s do not exist in Airflow", sorted(unknown))
        if not roles:
            log.warning("airgate: user %s has no Airflow role", info["username"])
            return None
        user = self.find_user(username=info["username"])
        if user is None:
            user = self.add_user(
                username=info["username"],
                first_name=info["first_name"],
                last_name=info["last_name"],
                email=info["email"],
                role=roles,
            )
            if not user:
                log.error("airgate: could not register user %s", info["username"])
                return None
            log.info("airgate: registered %s with roles %s", info["username"], info["roles"])
            return user
        fields = {
            "first_name": info["first_name"],
            "last_name": info["last_name"],
            "email": info["email"],
            "active": True,
        }
        same = all(getattr(user, k, None) == v for k, v in fields.items()) and sorted(
            r.name for r in user.roles
        ) == sorted(r.name for r in roles)
        if not same:
            for k, v in fields.items():
                setattr(user, k, v)
            user.roles = roles
            self.update_user(user)
            log.info("airgate: synced %s, roles %s", info["username"], [r.name for r in roles])
        return user


SECURITY_MANAGER_CLASS = AirgateSecurityManager
