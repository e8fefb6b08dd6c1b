"""Identity (Keystone v3), as far as OpenStack's clients need it to reach the other services.

`POST /identity/v3/auth/tokens` takes the product's API tokens:

- method `application_credential`: `id` is the user's id (the one the token was made for,
  `orchestrator token create --user ID`; `admin` for ORCHESTRATOR_ADMIN_TOKEN), `secret` the
  token itself. The secret is checked by the product's token check; an id naming another user
  than the token's is refused, as Keystone refuses a secret that is not the credential's.
- method `token`: `{"token": {"id": <a product token, or one issued here>}}` (one issued here
  gives a new token with the same end).

The token issued (`X-Subject-Token`) is a short-lived token of its own (services.tokens
.issue_short_lived): it ends OPENSTACK_TOKEN_TTL_S after it was issued (the `expires_at` its
body shows), or when the product token it came from is revoked, and is refused after that
with a 401, as Keystone's. Every other call sends it as `X-Auth-Token` and is checked by the
same code as `Authorization: Bearer` (api/auth.py). The product's long-lived tokens are the
application credentials. One project per user: its id and name are the user's id.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, request

from orchestrator.services import tokens

from .common import OpenStackError, base_url, body_of, context, install_errors, json_response, keystone_error

blp = Blueprint("openstack_identity", __name__, url_prefix="/identity")
install_errors(blp, keystone_error)

DOMAIN = {"id": "default", "name": "Default"}
ROLES_USER = [{"id": "member", "name": "member"}, {"id": "reader", "name": "reader"}]
ROLES_ADMIN = [*ROLES_USER, {"id": "admin", "name": "admin"}]


def _version(base: str) -> dict:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{base}/identity/v3/"}],
            "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]}


@blp.get("")
@blp.get("/")
def versions():
    return json_response({"versions": {"values": [_version(base_url())]}}, 300)


@blp.get("/v3")
@blp.get("/v3/")
def version():
    return json_response({"version": _version(base_url())})


def catalog(base: str) -> list[dict]:
    def entry(kind: str, name: str, url: str) -> dict:
        return {"type": kind, "name": name, "id": kind, "endpoints": [
            {"id": f"{kind}-{iface}", "interface": iface, "region": "RegionOne", "region_id": "RegionOne", "url": url}
            for iface in ("public", "internal")]}
    return [entry("identity", "keystone", f"{base}/identity"),
            entry("compute", "nova", f"{base}/compute/v2.1"),
            entry("image", "glance", f"{base}/image"),
            entry("network", "neutron", f"{base}/network")]


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _token_body(issued: tokens.Issued, methods: list[str], credential_id: str | None) -> dict:
    who = issued.principal
    # A long-lived token validated here has no end: it is shown valid for another token's life.
    expires = issued.expires_at or dt.datetime.now(dt.timezone.utc) + dt.timedelta(
        seconds=context().settings.openstack_token_ttl_s)
    body = {"methods": methods, "issued_at": _stamp(issued.issued_at), "expires_at": _stamp(expires),
            "user": {"id": who.user_id, "name": who.user_id, "domain": DOMAIN, "password_expires_at": None},
            "project": {"id": who.user_id, "name": who.user_id, "domain": DOMAIN},
            "roles": ROLES_ADMIN if who.admin else ROLES_USER, "is_domain": False,
            "catalog": catalog(base_url()), "audit_ids": []}
    if credential_id is not None:
        body["application_credential"] = {"id": credential_id, "name": credential_id, "restricted": True}
    return {"token": body}


def _refused() -> OpenStackError:
    return OpenStackError(401, "The request you have made requires authentication.")


def _check(secret) -> object:
    if not isinstance(secret, str) or not secret:
        raise _refused()
    who = tokens.authenticate(context(), g.db, secret)
    if who is None:
        raise _refused()
    return who


@blp.post("/v3/auth/tokens")
def issue():
    identity = body_of("auth").get("identity")
    if not isinstance(identity, dict) or not isinstance(identity.get("methods"), list) or not identity["methods"]:
        raise OpenStackError(400, "Expecting to find identity in auth. The server could not comply with the "
                                  "request since it is either malformed or otherwise incorrect.")
    method = identity["methods"][0]
    if method == "application_credential":
        cred = identity.get("application_credential")
        if not isinstance(cred, dict) or not isinstance(cred.get("id"), str):
            raise OpenStackError(400, "Expecting to find id in application_credential (the user's id).")
        who = _check(cred.get("secret"))
        if cred["id"] != who.user_id:
            raise _refused()
        secret, credential_id = cred["secret"], cred["id"]
    elif method == "token":
        token = identity.get("token")
        secret = token.get("id") if isinstance(token, dict) else None
        _check(secret)
        credential_id = None
    else:
        raise OpenStackError(401, f"Unsupported authentication method: {method} (application_credential and "
                                  "token are supported: the secret is an API token of this deployment)")
    issued = tokens.issue_short_lived(context(), g.db, secret)
    if issued is None:
        raise _refused()
    return json_response(_token_body(issued, [method], credential_id), 201, {"X-Subject-Token": issued.secret})


@blp.route("/v3/auth/tokens", methods=["GET", "HEAD"])
def validate():
    _check(request.headers.get("X-Auth-Token", ""))
    subject = request.headers.get("X-Subject-Token", "")
    issued = tokens.describe(context(), g.db, subject) if subject else None
    if issued is None:
        raise OpenStackError(404, "Could not find token.")
    return json_response(_token_body(issued, ["token"], None), 200, {"X-Subject-Token": subject})


@blp.get("/v3/auth/catalog")
def auth_catalog():
    _check(request.headers.get("X-Auth-Token", ""))
    return json_response({"catalog": catalog(base_url()), "links": {"self": f"{base_url()}/identity/v3/auth/catalog"}})
