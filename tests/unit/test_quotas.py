"""Quota rules on a real (SQLite) database: what a server holds in each state, the limits a
caller may set, the check, the changes folded in, a migrated deployment's backfill, the
settings, and the recount (docs/quotas.md)."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from orchestrator import migrate, quotas
from orchestrator.errors import Invalid, OverLimit
from orchestrator.ganeti import OP_REMOVE, OP_SHUTDOWN, OP_STARTUP
from orchestrator.models import Flavor, Image, QuotaChange, Server
from orchestrator.quotas import holdings, recount
from orchestrator.quotas.resources import server_holding
from orchestrator.settings import Settings
from orchestrator.state import JobReport, apply_job_report


def _shown(session, user: str, defaults=None) -> dict:
    return {q.resource: (q.usage, q.pending, q.limit) for q in quotas.quotas_of(session, [user], defaults or {})[user]}


def test_what_a_server_holds_in_each_state():
    figures = dict(cpu=2, ram=2048, disk=20)
    full = {"cyclades.vm": 1, "cyclades.total_cpu": 2, "cyclades.total_ram": 2048, "cyclades.disk": 20,
            "cyclades.cpu": 2, "cyclades.ram": 2048}
    for state in ("BUILD", "STARTED", "ERROR", None):  # None: not flushed yet, BUILD
        assert server_holding(operstate=state, deleted=False, **figures) == full
    stopped = {k: v for k, v in full.items() if k not in ("cyclades.cpu", "cyclades.ram")}
    assert server_holding(operstate="STOPPED", deleted=False, **figures) == stopped
    assert server_holding(operstate="DESTROYED", deleted=True, **figures) == {}
    assert server_holding(operstate="STOPPED", deleted=True, **figures) == {}


@pytest.mark.parametrize("value, limit", [(0, 0), (20, 20), ("20", 20), ("unlimited", -1), (None, None),
                                          ("default", None)])
def test_limits_a_caller_may_set(value, limit):
    assert holdings.parse_limit("cyclades.vm", value) == limit


@pytest.mark.parametrize("value", [-1, -5, "-1", "lots", 1.5, True, [], 2 ** 62])
def test_limits_refused_naming_the_resource(value):
    with pytest.raises(Invalid) as refused:
        holdings.parse_limit("cyclades.ram", value)
    assert refused.value.field == "cyclades.ram"


def test_an_unknown_resource_is_refused():
    with pytest.raises(Invalid) as refused:
        holdings.parse_limit("cyclades.gpu", 1)
    assert refused.value.field == "cyclades.gpu" and "cyclades.vm" in refused.value.message


def test_quota_defaults_setting():
    settings = Settings.from_env({"QUOTA_DEFAULTS": "cyclades.vm=50, cyclades.ram=unlimited,cyclades.disk=0"})
    assert settings.quota_defaults == {"cyclades.vm": 50, "cyclades.ram": None, "cyclades.disk": 0}
    assert Settings.from_env({}).quota_defaults == {}
    for bad in ("cyclades.vm=-1", "cyclades.gpu=1", "cyclades.vm", "cyclades.vm=x"):
        with pytest.raises(ValueError, match="QUOTA_DEFAULTS"):
            Settings.from_env({"QUOTA_DEFAULTS": bad})


def test_charge_checks_then_holds_and_giving_back_takes_no_lock(session):
    defaults = {"cyclades.floating_ip": 2}
    quotas.charge(session, "u1", {"cyclades.floating_ip": 1}, defaults=defaults)
    quotas.charge(session, "u1", {"cyclades.floating_ip": 1}, defaults=defaults)
    session.commit()
    with pytest.raises(OverLimit) as over:
        quotas.charge(session, "u1", {"cyclades.floating_ip": 1}, defaults=defaults)
    assert over.value.details == {"resource": "cyclades.floating_ip", "limit": 2, "usage": 2, "requested": 1}
    assert over.value.status == 413
    session.rollback()
    quotas.charge(session, "u1", {"cyclades.floating_ip": -1}, defaults=defaults)  # a change row, no lock
    session.commit()
    assert session.scalar(select(func.count(QuotaChange.id))) == 1
    assert _shown(session, "u1", defaults)["cyclades.floating_ip"] == (1, 0, 2)
    quotas.charge(session, "u1", {"cyclades.floating_ip": 1}, defaults=defaults)  # folds the change in
    session.commit()
    assert session.scalar(select(func.count(QuotaChange.id))) == 0
    assert _shown(session, "u1", defaults)["cyclades.floating_ip"] == (2, 0, 2)


def test_a_user_limit_wins_and_a_limit_below_usage_refuses_growth_only(session):
    defaults = {"cyclades.network.private": 5}
    quotas.charge(session, "u2", {"cyclades.network.private": 3}, defaults=defaults)
    quotas.set_limits(session, "u2", {"cyclades.network.private": 1})
    session.commit()
    user = quotas.quotas_of(session, ["u2"], defaults)["u2"]
    network = next(q for q in user if q.resource == "cyclades.network.private")
    assert (network.limit, network.usage, network.default, network.over) == (1, 3, False, True)
    with pytest.raises(OverLimit):
        quotas.charge(session, "u2", {"cyclades.network.private": 1}, defaults=defaults)
    session.rollback()
    quotas.charge(session, "u2", {"cyclades.network.private": -1}, defaults=defaults)  # shrinking: always
    quotas.set_limits(session, "u2", {"cyclades.network.private": "unlimited"})
    quotas.charge(session, "u2", {"cyclades.network.private": 10}, defaults=defaults)
    session.commit()
    assert _shown(session, "u2", defaults)["cyclades.network.private"] == (12, 0, None)


def test_the_state_function_moves_usage_and_the_recount_agrees(session):
    flavor = Flavor(name="f", cpu=2, ram=512, disk=5)
    image = Image(name="i", location="plain")
    server = Server(user_id="u3", name="s", flavor=flavor, image=image)
    session.add(server)
    session.flush()
    from orchestrator.quotas import commission

    commission.charge_new_server(session, server, defaults={})
    session.commit()
    assert _shown(session, "u3")["cyclades.cpu"] == (2, 0, None)
    apply_job_report(server, JobReport(1, OP_SHUTDOWN, "success", 10.0))
    session.commit()
    assert _shown(session, "u3")["cyclades.cpu"] == (0, 0, None)
    assert _shown(session, "u3")["cyclades.total_cpu"] == (2, 0, None)
    assert recount.differences(session, ["u3"]) == []
    apply_job_report(server, JobReport(2, OP_STARTUP, "success", 11.0))
    apply_job_report(server, JobReport(3, OP_REMOVE, "success", 12.0))
    session.commit()
    assert all(usage == 0 for usage, _p, _l in _shown(session, "u3").values())
    assert recount.differences(session, ["u3"]) == []


def test_the_migration_counts_what_existing_users_hold(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0007")
    from orchestrator.db import get_sessionmaker

    with get_sessionmaker(url)() as session:
        session.execute(Flavor.__table__.insert().values(
            id=1, name="f", cpu=2, ram=1024, disk=10, disk_template="plain", deleted=False, created_at=func.now(),
            updated_at=func.now()))
        session.execute(Image.__table__.insert().values(id=1, name="i", location="plain", os="x", properties={},
                                                        public=True, created_at=func.now(), updated_at=func.now()))
        for i, (state, deleted) in enumerate((("STARTED", False), ("STOPPED", False), ("DESTROYED", True))):
            session.execute(Server.__table__.insert().values(
                id=i + 1, user_id="old", name=f"s{i}", flavor_id=1, image_id=1, operstate=state, deleted=deleted,
                build_percentage=100, nics=[], suspended=False, created_at=func.now(), updated_at=func.now()))
        session.commit()
    migrate.upgrade(url)
    with get_sessionmaker(url)() as session:
        shown = _shown(session, "old")
        assert (shown["cyclades.vm"][0], shown["cyclades.total_cpu"][0], shown["cyclades.cpu"][0],
                shown["cyclades.disk"][0]) == (2, 4, 2, 20)
        assert recount.differences(session, ["old"]) == []
