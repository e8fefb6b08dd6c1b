"""Redis with a password, end to end: REDIS_PASSWORD reaches every derived URL, and a
create goes through the API, the broker, a worker and the one-time config store on it."""
from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest
import redis

from api.app import create_app
from tests.conftest import Worker, celery_for, wait_for
from tests.harness.services import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.parametrize("stack", ["sqlite"], indirect=True)]

PASSWORD = "s3cret/with:odd@chars"


def test_a_create_goes_through_a_redis_that_asks_for_a_password(stack, tmp_path):
    guarded = RedisServer(tmp_path / "redis", password=PASSWORD).start()
    env = {k: v for k, v in stack.env.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "REDIS_URL")}
    env.update(REDIS_PORT=str(guarded.port), REDIS_PASSWORD=PASSWORD)
    celery = celery_for(env)
    worker = Worker(env, tmp_path / "worker.log", app=celery, name="redis-password").start()
    try:
        settings = celery.context.settings
        assert all(quote(PASSWORD, safe="") in url for url in (settings.broker_url, settings.result_backend,
                                                               settings.redis_url))
        assert quote(PASSWORD, safe="") not in repr(settings)  # never in a log line
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=guarded.port).ping()  # nobody gets in without it
        api = create_app(settings, celery.context).test_client()
        created = api.post("/api/v1/servers", json={"name": "behind-a-password", "flavor_id": 1, "image_id": 1},
                           headers=stack.admin_headers)
        assert created.status_code == 202, created.json
        server = wait_for(lambda: (lambda s: s if s["status"] == "ACTIVE" else None)(
            api.get(f"/api/v1/servers/{created.json['id']}", headers=stack.admin_headers).json), 60,
            what="the server to be ACTIVE")
        assert server["backend_id"] is not None
        config = api.get(urlsplit(created.json["config_url"]).path)  # the password, read once
        assert config.status_code == 200 and config.json["password"]
    finally:
        worker.stop()
        celery.close()
        guarded.stop()
