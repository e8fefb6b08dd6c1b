"""Beat's leader-lock settings reach Celery's configuration from the Settings passed in."""
from __future__ import annotations

import pytest
from redis.connection import parse_url

from orchestrator.broker import celery_settings
from orchestrator.settings import Settings


def test_beat_runs_redbeat_on_the_settings_redis_with_their_lock_and_prefix():
    settings = Settings.from_env({"REDIS_PORT": "6390", "BEAT_LOCK_TIMEOUT_S": "12", "BEAT_MAX_LOOP_S": "2.5",
                                  "BEAT_KEY_PREFIX": "prod-a:beat:"})
    conf = celery_settings(settings)
    assert conf["beat_scheduler"] == "orchestrator.beat:LeaderScheduler"
    assert conf["redbeat_redis_url"] == settings.redis_url == "redis://127.0.0.1:6390/2"
    assert conf["redbeat_lock_timeout"] == 12 and conf["beat_max_loop_interval"] == 2.5
    assert conf["redbeat_key_prefix"] == "prod-a:beat:"
    assert isinstance(conf["redbeat_redis_options"], dict)  # so redbeat ignores the broker's transport options


def test_a_redis_password_reaches_redbeat_intact():
    password = "p@ss:w/rd%41 #?"
    url = celery_settings(Settings.from_env({"REDIS_PASSWORD": password}))["redbeat_redis_url"]
    assert password not in url  # percent-encoded in the URL
    assert parse_url(url)["password"] == password  # what redis-py (and so redbeat) connects with
    assert password not in repr(Settings.from_env({"REDIS_PASSWORD": password}))


def test_defaults_and_bad_values():
    settings = Settings.from_env({})
    assert (settings.beat_lock_timeout_s, settings.beat_max_loop_s) == (30, 5.0)
    assert settings.beat_key_prefix == "orchestrator:beat:"
    with pytest.raises(ValueError, match="BEAT_LOCK_TIMEOUT_S"):
        Settings.from_env({"BEAT_LOCK_TIMEOUT_S": "1"})
    with pytest.raises(ValueError, match="BEAT_MAX_LOOP_S"):
        Settings.from_env({"BEAT_MAX_LOOP_S": "0"})
