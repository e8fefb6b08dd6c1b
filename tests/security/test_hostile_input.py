"""Hostile input, as a user (or an operator) sends it: every refusal is a 4xx with the API's
JSON error body naming the field, never a 500, and a refused create leaves nothing behind
(no rows, no one-time configuration in Redis)."""
from __future__ import annotations

import json
import re
import time
import uuid
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from orchestrator import auth
from orchestrator.cli import main
from orchestrator.errors import Invalid
from orchestrator.models import Image, Server, Token
from tests.integration.helpers import user_headers

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

RFC1123_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Names nobody may give: each a 422 naming the field.
BAD_NAMES = {
    "lone surrogate": "\ud800",
    "surrogate inside": "web\udfff01",
    "NUL": "a\x00b",
    "newline": "a\nb",
    "escape sequence": "\x1b[31mred",
    "DEL": "a\x7f",
    "bidi override": "abc\u202etxt.exe",
    "zero-width space": "a\u200bb",
    "too long": "x" * 256,
    "blank": "   ",
    "padded": " vm ",
}


def vmconfigs(stack) -> set:
    return set(stack.ctx.redis.keys("vmconfig:*"))


def new_configs(stack, before: set) -> set:
    """One-time configurations stored since `before` (what a refused create must not leave)."""
    return vmconfigs(stack) - before


def count(stack, model) -> int:
    with stack.session() as session:
        return session.scalar(select(func.count(model.id)))


def raw_post(stack, path: str, body: str | bytes, headers: dict) -> object:
    return stack.client.post(path, data=body, headers={**headers, "Content-Type": "application/json"})


def assert_error(response, code: int, field: str | None = None, where: str = "json") -> None:
    """The API's one error shape, naming `field` when given."""
    assert response.status_code == code, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.is_json, response.get_data(as_text=True)[:500]
    body = response.json
    assert body["code"] == code and isinstance(body["status"], str) and body["message"], body
    if field is not None:
        assert field in body["errors"][where], body
        assert field in body["message"], body


def cli(*args: str):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def cli_fails(*args: str, says: str) -> str:
    result = cli(*args)
    assert result.exit_code == 1, (args, result.exit_code, result.output)
    assert result.output.startswith("error: ") and says in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    return result.output


@pytest.fixture(scope="module")
def user(stack) -> dict:
    return user_headers(stack, f"hostile-{uuid.uuid4().hex[:6]}")


@pytest.fixture(scope="module")
def own_server(stack, user) -> int:
    response = stack.client.post("/api/v1/servers", json={"name": "hostile-own", "flavor_id": 1, "image_id": 1},
                                 headers=user)
    assert response.status_code == 202, response.json
    return response.json["id"]


# -- 1. a bearer token outside ASCII ---------------------------------------------------

@pytest.mark.parametrize("token", ["tökén", "test-admin-tokén", "é" * 64, "ÿ"])
def test_non_ascii_bearer_token_is_a_401(stack, token):
    response = stack.client.get("/api/v1/servers", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401)
    assert "token" in response.json["message"] and response.headers["WWW-Authenticate"] == "Bearer"


def test_authenticate_never_raises_on_odd_text(stack):
    with stack.session() as session:
        for token in ("\ud800", "tökén", "\x00", "☃" * 100):
            assert auth.authenticate(session, token, "test-admin-token") is None


# -- 2. JSON a parser cannot or should not take ------------------------------------------

HOSTILE_JSON = {
    "10,000 open brackets": "[" * 10_000,
    "10,000 nested arrays": "[" * 10_000 + "]" * 10_000,
    "5,000 nested objects": '{"a":' * 5_000 + "1" + "}" * 5_000,
    "100 nested arrays in a field": '{"name": "x", "properties": {"k": ' + "[" * 100 + "]" * 100 + "}}",
    "an integer of 5,000 digits": '{"name": "x", "flavor_id": 1' + "0" * 5_000 + ', "image_id": 1}',
    "NaN": '{"name": "x", "flavor_id": NaN, "image_id": 1}',
    "Infinity in properties": '{"name": "x", "location": "a.diskdump", "properties": {"k": Infinity}}',
}


@pytest.mark.parametrize("body", HOSTILE_JSON.values(), ids=HOSTILE_JSON.keys())
@pytest.mark.parametrize("path", ["/api/v1/servers", "/api/v1/images", "/api/v1/flavors"])
def test_hostile_json_is_a_400(stack, path, body):
    before, counts = vmconfigs(stack), (count(stack, Server), count(stack, Image))
    response = raw_post(stack, path, body, stack.admin_headers)
    assert_error(response, 400)
    assert "json" in response.json["message"].lower()
    assert not new_configs(stack, before) and (count(stack, Server), count(stack, Image)) == counts


# -- 3. names: printable, bounded; nothing left in Redis; the VM's hostname -------------------

@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_server_name_is_a_422_and_leaves_nothing(stack, user, name):
    before, servers = vmconfigs(stack), count(stack, Server)
    response = stack.client.post("/api/v1/servers", json={"name": name, "flavor_id": 1, "image_id": 1}, headers=user)
    assert_error(response, 422, "name")
    assert not new_configs(stack, before) and count(stack, Server) == servers


@pytest.mark.parametrize("password", ["\ud800" * 8, "pass\x00word", "line\nbreak!", "\u202epassword"])
def test_bad_vm_password_is_a_422_and_leaves_nothing(stack, user, password):
    before, servers = vmconfigs(stack), count(stack, Server)
    response = stack.client.post("/api/v1/servers", headers=user,
                                 json={"name": "pw", "flavor_id": 1, "image_id": 1, "password": password})
    assert_error(response, 422, "password")
    assert not new_configs(stack, before) and count(stack, Server) == servers


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES.keys())
def test_bad_names_everywhere_are_a_422(stack, user, own_server, name):
    admin, kept = stack.admin_headers, stack.server(own_server)["name"]
    cases = [
        ("patch", f"/api/v1/servers/{own_server}", {"name": name}, user, "name"),
        ("post", "/api/v1/images", {"name": name, "location": "a.diskdump"}, user, "name"),
        ("post", "/api/v1/flavors", {"name": name, "cpu": 1, "ram": 128, "disk": 1}, admin, "name"),
        ("post", "/api/v1/backends", {"clustername": name, "host": "127.0.0.1", "port": 1, "username": "u",
                                      "password": "p"}, admin, "clustername"),
        ("patch", "/api/v1/backends/1", {"clustername": name}, admin, "clustername"),
        ("post", "/api/v1/servers/import", {"backend_id": 1, "instance_name": "snf-999999", "user_id": name}, admin,
         "user_id"),
        ("post", "/api/v1/servers/import", {"backend_id": 1, "instance_name": name, "user_id": "u"}, admin,
         "instance_name"),
    ]
    for method, path, body, headers, field in cases:
        response = getattr(stack.client, method)(path, json=body, headers=headers)
        assert_error(response, 422, field)
    assert stack.server(own_server)["name"] == kept


@pytest.mark.parametrize("value", ["%00", "a%0Ab", "%1B%5B31m", "%E2%80%AE", "x" * 256])
@pytest.mark.parametrize("path, field", [("/api/v1/servers", "user_id"), ("/api/v1/servers", "name"),
                                         ("/api/v1/operations", "user_id"), ("/api/v1/operations", "kind")])
def test_bad_names_in_query_strings_are_a_422(stack, user, path, field, value):
    response = stack.client.get(f"{path}?{field}={value}", headers=user)
    assert_error(response, 422, field, where="query")


def test_cli_refuses_the_same_names(stack):
    before = vmconfigs(stack)
    cli_fails("server", "create", "--user", "cli-hostile", "--name", "a\x1bb", "--flavor", "1", "--image", "1",
              says="name")
    cli_fails("server", "create", "--user", "a\nb", "--name", "ok", "--flavor", "1", "--image", "1", says="owner")
    cli_fails("token", "create", "--user", "bad\x00user", says="user_id")
    cli_fails("image", "register", "--name", "x\u202e", "--location", "a.diskdump", says="name")
    cli_fails("image", "register", "--name", "x", "--location", "a.diskdump", "--owner", "\u200b", says="owner")
    cli_fails("flavor", "create", "--cpus", "1", "--rams", "128", "--disks", "1", "--name", "f\x07", says="name")
    assert not new_configs(stack, before)


def test_cli_rename_list_and_import_refuse_them_too(stack):
    """What click hands over from bytes that are not UTF-8 (lone surrogates) is one error line."""
    server_id = stack.create_server(name="cli-rename-target")[1]["id"]
    cli_fails("server", "modify", str(server_id), "--name", "bad\udcff", says="name")
    cli_fails("server", "list", "--filter-by", "name=bad\udcff", says="name")
    cli_fails("server", "list", "--filter-by", "user=a\x1bb", says="user_id")
    cli_fails("server", "import", "--backend", "1", "--instance", "snf-999999", "--user", "bad\udcff",
              says="user_id")
    assert stack.server(server_id)["name"] == "cli-rename-target"


def test_a_failed_row_write_takes_its_configs_back(stack, monkeypatch):
    """The configs are stored once the rows are flushed; a commit that fails takes them back."""
    from sqlalchemy.exc import OperationalError

    from orchestrator.services import servers

    before = vmconfigs(stack)
    session = stack.ctx.sessions()
    try:
        def broken_commit():
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

        monkeypatch.setattr(session, "commit", broken_commit)
        with pytest.raises(OperationalError):
            servers.create(stack.ctx, session, auth.Principal("row-failer", False), name="row-fail", flavor_id=1,
                           image_id=1)
        session.rollback()
    finally:
        session.close()
    assert not new_configs(stack, before)
    with stack.session() as check:
        assert check.scalar(select(func.count(Server.id)).where(Server.user_id == "row-failer")) == 0


HOSTNAMES = [
    ("Web Server_01.example.COM", "web-server-01-example-com"),
    ("Ünïcødé Bøx", None),
    ("-lead-and-trail-", "lead-and-trail"),
    ("a" * 255, "a" * 63),
    ("x" * 62 + "-y", "x" * 62),
    ("☃☃☃", "vm-{id}"),
    ("___", "vm-{id}"),
]


@pytest.mark.parametrize("name, expected", HOSTNAMES)
def test_the_installer_gets_an_rfc1123_hostname(stack, user, name, expected):
    response = stack.client.post("/api/v1/servers", json={"name": name, "flavor_id": 1, "image_id": 1}, headers=user)
    assert response.status_code == 202, response.json
    assert response.json["name"] == name  # the name stays as given
    config = stack.client.get(urlsplit(response.json["config_url"]).path)
    assert config.status_code == 200, config.json
    hostname = config.json["config"]["hostname"]
    assert RFC1123_LABEL.match(hostname), hostname
    if expected is not None:
        assert hostname == expected.format(id=response.json["id"])


@settings(max_examples=300, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(name=st.text(st.characters(exclude_categories=())))
def test_hostname_for_any_name_is_an_rfc1123_label(stack, name):
    from orchestrator.vmconfig import hostname_for

    assert RFC1123_LABEL.match(hostname_for(name, 42))
    assert RFC1123_LABEL.match(hostname_for(name))


# -- 4. bounded bodies and collections -----------------------------------------------------

def test_a_body_over_the_limit_is_a_413(stack, user):
    big = '{"name": "' + "x" * (2 * 1024 * 1024) + '", "flavor_id": 1, "image_id": 1}'
    before = vmconfigs(stack)
    for path in ("/api/v1/servers", "/api/v1/images", "/api/v1/operations/1/retry"):
        assert_error(raw_post(stack, path, big, user), 413)
    assert not new_configs(stack, before)


def test_the_body_limit_is_a_setting(stack, user):
    from api.app import create_app

    app = create_app(stack.ctx.settings.replace(api_max_body_bytes=4096), stack.ctx)
    body = json.dumps({"name": "x", "location": "a.diskdump", "properties": {"k": "v" * 1000, "l": "w" * 1000,
                                                                              "m": "z" * 1000, "n": "q" * 1100}})
    response = app.test_client().post("/api/v1/images", data=body, headers={**user, "Content-Type": "application/json"})
    assert_error(response, 413)
    assert stack.ctx.settings.api_max_body_bytes == 1024 * 1024


@pytest.mark.parametrize("properties", [
    {f"k{i}": "v" for i in range(50_000)},
    {f"k{i}": "v" for i in range(65)},
    {"k" * 65: "v"},
    {"k": "v" * 1025},
    {"k": {"nested": "object"}},
    {"k": ["a", "list"]},
    {"k": "line\nbreak"},
    {"bad\x00key": "v"},
    {"": "v"},
], ids=["50,000 keys", "65 keys", "a 65-character key", "a 1025-character value", "an object value", "a list value",
        "a control character", "a NUL in a key", "an empty key"])
def test_image_properties_are_bounded(stack, user, properties):
    before = count(stack, Image)
    response = stack.client.post("/api/v1/images", json={"name": "props", "location": "a.diskdump",
                                                         "properties": properties}, headers=user)
    assert_error(response, 422, "properties")
    assert count(stack, Image) == before


def test_image_properties_within_bounds_are_kept(stack, user):
    properties = {f"K{i}": "v" * 1024 for i in range(64)}
    response = stack.client.post("/api/v1/images", json={"name": "props-ok", "location": "a.diskdump",
                                                         "properties": properties}, headers=user)
    assert response.status_code == 201, response.json
    assert response.json["properties"] == {**properties, "format": "diskdump"}


def test_the_cli_bounds_properties_too(stack):
    args = [a for i in range(65) for a in ("--property", f"K{i}=v")]
    cli_fails("image", "register", "--name", "x", "--location", "a.diskdump", *args, says="properties")


def test_flavor_products_and_template_lists_are_bounded(stack):
    h = stack.admin_headers
    flavors = len(stack.client.get("/api/v1/flavors", headers=h).json)
    product = {"cpus": list(range(101, 104)), "rams": list(range(7000, 7010)), "disks": list(range(700, 710))}
    assert_error(stack.client.post("/api/v1/flavors/product", json=product, headers=h), 422)
    assert len(stack.client.get("/api/v1/flavors", headers=h).json) == flavors
    cli_fails("flavor", "create", "--cpus", "101,102,103", "--rams", ",".join(map(str, range(7000, 7010))),
              "--disks", ",".join(map(str, range(700, 710))), says="flavors")
    too_many = ["plain"] * 100
    assert_error(stack.client.post("/api/v1/backends", json={"host": "127.0.0.1", "port": 1, "username": "u",
                                                             "password": "p", "disk_templates": too_many},
                                   headers=h), 422, "disk_templates")
    assert_error(stack.client.patch("/api/v1/backends/1", json={"disk_templates": too_many}, headers=h), 422,
                 "disk_templates")
    assert_error(stack.client.post("/api/v1/flavors/product", json={**product, "cpus": [1], "disk_templates":
                                                                    too_many}, headers=h), 422, "disk_templates")


# -- 5. RAPI credentials basic auth cannot carry ---------------------------------------------

BAD_CREDENTIALS = {"outside Latin-1 with a backspace": "\u00b9G\b\u00cc", "lone surrogate": "\ud800",
                   "outside Latin-1": "pässwörd€", "NUL": "a\x00b", "newline": "a\nb"}


@pytest.fixture(scope="module")
def extra_cluster():
    """A cluster no backend reaches yet, so adding it gets as far as its /2/info."""
    from ganeti_sim import SimFleet

    fleet = SimFleet(clusters=1, base_port=0, host="127.0.0.1", job_duration=0.3, user="rapi",
                     password="extra-cluster-secret", name_format="hostile{n}.sim.local")
    fleet.start()
    yield fleet.clusters[0]
    fleet.stop()


@pytest.mark.parametrize("value", BAD_CREDENTIALS.values(), ids=BAD_CREDENTIALS.keys())
@pytest.mark.parametrize("field", ["username", "password"])
def test_credentials_basic_auth_cannot_carry_are_a_422(stack, extra_cluster, field, value):
    h, port = stack.admin_headers, extra_cluster.port
    body = {"host": "127.0.0.1", "port": port, "scheme": "http", "username": "rapi", "password": "rapi-secret",
            "clustername": f"cred-{uuid.uuid4().hex[:6]}", field: value}
    assert_error(stack.client.post("/api/v1/backends", json=body, headers=h), 422, field)
    assert_error(stack.client.patch("/api/v1/backends/1", json={field: value}, headers=h), 422, field)
    assert stack.client.get("/api/v1/backends/1", headers=h).json["offline"] is False


def test_a_colon_in_the_rapi_username_is_a_422(stack, extra_cluster):
    h, port = stack.admin_headers, extra_cluster.port
    body = {"host": "127.0.0.1", "port": port, "scheme": "http", "username": "ra:pi", "password": "rapi-secret"}
    assert_error(stack.client.post("/api/v1/backends", json=body, headers=h), 422, "username")


def test_latin1_credentials_reach_the_cluster(stack, extra_cluster):
    """Latin-1 is what basic auth carries: the cluster is asked, and it says no (a 422, not a 500)."""
    h, port = stack.admin_headers, extra_cluster.port
    body = {"host": "127.0.0.1", "port": port, "scheme": "http", "username": "rapi", "password": "pässwörd"}
    assert_error(stack.client.post("/api/v1/backends", json=body, headers=h), 422, "password")
    assert "rejected" in stack.client.post("/api/v1/backends", json=body, headers=h).json["message"]


def test_cli_refuses_the_same_credentials(stack, extra_cluster):
    port = extra_cluster.port
    cli_fails("backend", "add", "--host", "127.0.0.1", "--port", port, "--scheme", "http", "--username", "\u00b9G\b",
              "--password", "x", says="username")
    cli_fails("backend", "modify", "1", "--password", "\u20ac uro", says="password")


@pytest.mark.parametrize("host", ["127.0.0.1\n", "exa mple.org", "host/path", "a" * 254])
def test_bad_backend_hosts_are_a_422(stack, host):
    body = {"host": host, "port": 1, "username": "u", "password": "p"}
    assert_error(stack.client.post("/api/v1/backends", json=body, headers=stack.admin_headers), 422, "host")
    cli_fails("backend", "add", "--host", host, "--port", "1", "--username", "u", "--password", "p", says="host")


# -- 6. what an image may hand Ganeti --------------------------------------------------------

@pytest.mark.parametrize("body, field", [
    ({"os": "debootstrap+evil"}, "os"),
    ({"os": "snf-image+default\n"}, "os"),
    ({"location": "file:///etc/shadow"}, "location"),
    ({"location": "FILE:///etc/shadow"}, "location"),
    ({"location": "/etc/shadow"}, "location"),
    ({"location": "../../etc/shadow"}, "location"),
    ({"location": ".hidden"}, "location"),
    ({"location": "gopher://example.org/x"}, "location"),
    ({"location": "http://"}, "location"),
    ({"location": "http://example.org/a b.diskdump"}, "location"),
    ({"location": "http://example.org/a\n.diskdump"}, "location"),
    ({"location": "a.diskdump\x00"}, "location"),
])
def test_a_users_image_must_use_an_allowed_provider_and_location(stack, user, body, field):
    before = count(stack, Image)
    response = stack.client.post("/api/v1/images", json={"name": "evil", "location": "a.diskdump", **body},
                                 headers=user)
    assert_error(response, 422, field)
    assert count(stack, Image) == before


def test_administrators_are_bound_too(stack):
    h = stack.admin_headers
    for body, field in (({"os": "debootstrap+evil"}, "os"), ({"location": "file:///etc/shadow"}, "location")):
        response = stack.client.post("/api/v1/images", json={"name": "evil", "location": "a.diskdump", "public": True,
                                                             **body}, headers=h)
        assert_error(response, 422, field)
    cli_fails("image", "register", "--name", "evil", "--location", "file:///etc/passwd", says="location")
    cli_fails("image", "register", "--name", "evil", "--location", "a.diskdump", "--os", "debootstrap+evil",
              says="os")


@pytest.mark.parametrize("location", ["debian-12-amd64.diskdump", "alpine-3.20.diskdump",
                                      "http://images.example.org/debian.diskdump",
                                      "HTTPS://images.example.org:8443/a/b.diskdump?x=1"])
def test_allowed_locations_register(stack, user, location):
    response = stack.client.post("/api/v1/images", json={"name": "fine", "location": location}, headers=user)
    assert response.status_code == 201, response.json
    assert (response.json["location"], response.json["os"]) == (location, "snf-image+default")


def test_the_allowed_lists_are_settings(stack, user):
    from orchestrator.services import catalog
    from orchestrator.services.context import Context

    assert stack.ctx.settings.image_os_providers == ("snf-image+default",)
    wider = Context(stack.ctx.settings.replace(image_os_providers=("snf-image+default", "debootstrap+default"),
                                               image_location_schemes=("plain", "https", "pithos")),
                    stack.ctx.dispatcher)
    who = auth.Principal("settings-user", False)
    with stack.session() as session:
        image = catalog.register_image(wider, session, who, name="p", location="pithos://u/c/o",
                                       os="debootstrap+default")
        assert (image.location, image.os) == ("pithos://u/c/o", "debootstrap+default")
        with pytest.raises(Invalid) as refused:
            catalog.register_image(wider, session, who, name="h", location="http://example.org/x.diskdump")
        assert refused.value.field == "location"


# -- 7. the administrator's identity is no user's -------------------------------------------

@pytest.mark.parametrize("user_id", ["admin", " admin ", "Admin", "ADMIN"])
def test_no_token_for_the_administrators_identity(stack, user_id):
    cli_fails("token", "create", "--user", user_id, says="reserved")
    with stack.session() as session:
        with pytest.raises(Invalid) as refused:
            auth.create_token(session, user_id)
        assert refused.value.field == "user_id"


def test_a_token_left_for_the_administrators_identity_sees_nothing(stack):
    mine = stack.client.post("/api/v1/servers", json={"name": "admins-own", "flavor_id": 1, "image_id": 1},
                             headers=stack.admin_headers)
    assert mine.status_code == 202, mine.json
    secret = f"legacy-{uuid.uuid4().hex}"
    with stack.session() as session:  # a row written before the identity was reserved
        session.add(Token(user_id=auth.ADMIN_USER, token_hash=auth.hash_token(secret), admin=False))
        session.commit()
    response = stack.client.get("/api/v1/servers", headers={"Authorization": f"Bearer {secret}"})
    assert_error(response, 401)
    assert stack.client.get(f"/api/v1/servers/{mine.json['id']}",
                            headers={"Authorization": f"Bearer {secret}"}).status_code == 401


# -- 8. the one-time configuration is never cached -------------------------------------------

def test_the_config_is_never_cached(stack, user):
    created = stack.client.post("/api/v1/servers", json={"name": "no-store", "flavor_id": 1, "image_id": 1},
                                headers=user)
    path = urlsplit(created.json["config_url"]).path
    first = stack.client.get(path)
    assert first.status_code == 200 and first.headers["Cache-Control"] == "no-store"
    again = stack.client.get(path)
    assert again.status_code == 404 and again.headers["Cache-Control"] == "no-store"
    assert stack.client.get("/api/v1/config/not-a-key!").headers["Cache-Control"] == "no-store"


# -- property-based: whatever arrives, never a 5xx -------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
                    max_leaves=12)
# Any code point, lone surrogates included (JSON carries them as \ud800 escapes)...
ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)
# ...and what a URL can carry (UTF-8, so no surrogates).
QUERY_TEXT = st.text(max_size=300)


def _no_5xx(response, what) -> None:
    assert response.status_code < 500, (what, response.status_code, response.get_data(as_text=True)[:300])
    assert response.is_json or response.status_code in (202, 204), what


@pytest.fixture
def hostile_stack(stack, user, own_server):
    """The stack, a user and their server, for the property checks (each kept well under a minute)."""
    started = time.monotonic()
    yield stack, user, own_server
    assert time.monotonic() - started < 60, "the property checks should stay well under a minute"


@settings(max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(["/api/v1/servers", "/api/v1/images", "/api/v1/flavors", "/api/v1/flavors/product",
                             "/api/v1/servers/1/actions", "/api/v1/servers/import"]),
       body=JSON | st.fixed_dictionaries({}, optional={
           "name": ANY_TEXT, "flavor_id": st.integers() | ANY_TEXT, "image_id": st.just(999_999), "cpu": st.just(0),
           "location": ANY_TEXT, "os": ANY_TEXT, "properties": st.dictionaries(ANY_TEXT, JSON, max_size=5),
           "password": ANY_TEXT, "user_id": ANY_TEXT, "instance_name": ANY_TEXT, "backend_id": st.integers(),
           "action": ANY_TEXT, "cpus": st.lists(st.integers(), max_size=40)}))
def test_random_json_never_gets_a_5xx(hostile_stack, path, body):
    stack, user, _server = hostile_stack
    for headers in (user, stack.admin_headers):
        if headers is stack.admin_headers and path == "/api/v1/images":
            continue  # administrators' valid random images would be public: the users' are enough
        _no_5xx(stack.client.post(path, json=body, headers=headers), (path, body))


@settings(max_examples=150, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(text=ANY_TEXT, query=QUERY_TEXT, raw=st.binary(max_size=200),
       field=st.sampled_from(["name", "user_id", "kind", "cursor", "status", "limit", "deleted"]))
def test_random_strings_never_get_a_5xx(hostile_stack, text, query, raw, field):
    stack, user, server = hostile_stack
    client = stack.client
    _no_5xx(client.patch(f"/api/v1/servers/{server}", json={"name": text}, headers=user), ("rename", text))
    _no_5xx(client.post("/api/v1/images", json={"name": text, "location": text, "os": text}, headers=user),
            ("image", text))
    # Port 0 is refused by the schema, so a random valid host is never dialled; 127.0.0.1:1 refuses at once.
    _no_5xx(client.post("/api/v1/backends", json={"host": text, "port": 0, "username": "u", "password": "p"},
                        headers=stack.admin_headers), ("backend host", text))
    _no_5xx(client.post("/api/v1/backends", json={"host": "127.0.0.1", "port": 1, "username": text, "password": text,
                                                  "clustername": text}, headers=stack.admin_headers),
            ("backend credentials", text))
    _no_5xx(client.get("/api/v1/servers", query_string={field: query}, headers=user), ("servers?", field, query))
    _no_5xx(client.get("/api/v1/operations", query_string={field: query}, headers=user),
            ("operations?", field, query))
    _no_5xx(raw_post(stack, "/api/v1/servers", raw, user), ("raw", raw))
    header = "".join(c for c in text if 32 <= ord(c) < 256 and c != "\x7f")
    _no_5xx(client.get("/api/v1/servers", headers={"Authorization": f"Bearer {header}"}), ("bearer", header))
    _no_5xx(client.get("/api/v1/flavors/1", headers={**user, "If-None-Match": header}), ("etag", header))
    _no_5xx(client.get(f"/api/v1/config/{query.replace('/', '')[:200] or 'x'}"), ("config key", query))



# -- the same class elsewhere ------------------------------------------------------------

def test_invented_methods_do_not_grow_the_metrics(stack):
    """Each label value is a series kept for the process's life: a method a client makes up
    must not become one."""
    for _ in range(20):
        response = stack.client.open("/api/v1/servers", method=f"X{uuid.uuid4().hex[:8].upper()}")
        assert_error(response, 405)
    metrics = stack.client.get("/metrics").get_data(as_text=True)
    assert 'method="X' not in metrics and 'method="OTHER"' in metrics
