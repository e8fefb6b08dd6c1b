"""The spec describes every response, errors included, and /docs renders it offline."""
from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

ADMIN_ONLY = ("/api/v1/backends", "/api/v1/reconciliation", "/api/v1/servers/import",
              "/api/v1/servers/{server_id}/inspect", "/api/v1/networks/{network_id}/inspect")
UNAUTHENTICATED = ("/healthz", "/api/v1/config/{key}")


def _operations(spec):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def test_every_operation_documents_its_errors(api, stack):
    spec = api.get("/openapi.json").json
    assert spec["components"]["schemas"]["Error"]["required"] == ["code", "message", "status"]
    checked = 0
    for path, method, operation in _operations(spec):
        responses = operation["responses"]
        where = f"{method.upper()} {path}"
        assert any(code.startswith("2") for code in responses), where
        assert "default" in responses, where
        if path not in UNAUTHENTICATED:
            assert "401" in responses, where
        if path.startswith(ADMIN_ONLY) or (method != "get" and path.startswith("/api/v1/flavors")):
            assert "403" in responses, where
        if re.search(r"{(\w+_id|key)}", path):
            assert "404" in responses, where
        if "requestBody" in operation:
            assert {"400", "422"} <= set(responses), where
        if method == "get" and re.search(r"{\w+_id}$", path) and "inspect" not in path:
            assert "304" in responses and "ETag" in responses["200"].get("headers", {}), where
        for code, response in responses.items():
            if code.startswith(("4", "5")) or code == "default":
                ref = response.get("$ref") or response["content"]["application/json"]["schema"]["$ref"]
                assert ref.endswith(("/Error", "DEFAULT_ERROR", "UNPROCESSABLE_ENTITY")) or code == "503", where
        checked += 1
    assert checked >= 30
    # Credentials are accepted, never described as returned.
    backend = spec["components"]["schemas"]["Backend"]["properties"]
    assert "password" not in backend and "username" not in backend
    server_id = next(p for p in spec["paths"]["/api/v1/servers/{server_id}"]["parameters"] if p["in"] == "path")
    assert server_id["schema"]["maximum"] == 2**31 - 1


def test_docs_render_the_spec_without_a_cdn(api, stack):
    page = api.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert '"/openapi.json"' in html
    assert "https://" not in html and "http://" not in html  # nothing fetched from elsewhere
    for asset in re.findall(r'(?:href|src)="([^"]+)"', html):
        response = api.get(asset)
        assert response.status_code == 200 and len(response.data) > 1000, asset
    assert api.get("/docs/assets/swagger-ui-bundle.js").mimetype in ("text/javascript", "application/javascript")
    assert api.get("/docs/assets/../../api/app.py").status_code == 404
    assert api.get("/docs/assets/oauth2-redirect.html").status_code == 404


def test_the_spec_states_what_every_deployment_refuses(api, stack):
    """What schemathesis found the spec allowed and the API refused whatever the deployment:
    an empty `kind` filter (every other free-text filter already said minLength 1) and an image
    location that is not printable ASCII without blanks."""
    from tests.integration.helpers import user_headers

    spec = api.get("/openapi.json").json
    free_text = 0
    for path, method, operation in _operations(spec):
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if parameter.get("in") == "query" and schema.get("type") == "string" and "enum" not in schema:
                assert schema.get("minLength", 0) >= 1, f"{method.upper()} {path} ?{parameter['name']}"
                free_text += 1
    assert free_text >= 5
    user = user_headers(stack, "spec")
    response = api.get("/api/v1/operations", query_string={"kind": ""}, headers=user)
    assert response.status_code == 422 and "kind" in response.json["errors"]["query"]

    location = spec["components"]["schemas"]["ImageCreate"]["properties"]["location"]
    assert re.fullmatch(location["pattern"], "debian-12.diskdump") and re.fullmatch(location["pattern"],
                                                                                    "https://example.org/a%20b")
    for refused in ("a b.diskdump", "é.diskdump", "a\tb"):
        assert not re.search(location["pattern"], refused), refused
        response = api.post("/api/v1/images", json={"name": "spec", "location": refused}, headers=user)
        assert response.status_code == 422 and "location" in response.json["errors"]["json"], refused
