"""Synnefo's default allocation strategy, with figures worked by hand."""
from __future__ import annotations

import re

import pytest

from orchestrator import allocator, scheduler
from orchestrator.scheduler import DEFAULT_FILTERS
from orchestrator.models import Backend, Flavor


def backend(name, *, mtotal=32768, mfree=16384, dtotal=1_000_000, dfree=750_000, ctotal=16, pinst=5,
            drained=False, offline=False, templates=("plain", "drbd")) -> Backend:
    return Backend(clustername=name, host="h", port=5080, username="u", password="p", mtotal=mtotal,
                   mfree=mfree, dtotal=dtotal, dfree=dfree, ctotal=ctotal, pinst_cnt=pinst,
                   drained=drained, offline=offline, disk_templates=list(templates))


def plain_flavor() -> Flavor:
    return Flavor(name="f", cpu=1, ram=1024, disk=10, disk_template="plain")


def test_score_worked_by_hand():
    # cpu_ratio = 4*(5+1)/(3*16) = 0.5; mem = 1 - 16384/32768 = 0.5; disk = 1 - 750000/1000000 = 0.25
    # score = 0.5*0.5 + 0.5*(0.5 + 0.25) = 0.625
    assert allocator.score(backend("a")) == pytest.approx(0.625)
    # cpu_ratio = 4*3/(3*32) = 0.125; mem = 0.25; disk = 0.5 -> 0.0625 + 0.375 = 0.4375
    b = backend("b", mtotal=65536, mfree=49152, dtotal=2_000_000, dfree=1_000_000, ctotal=32, pinst=2)
    assert allocator.score(b) == pytest.approx(0.4375)
    assert [x.clustername for x in allocator.rank([backend("a"), b])] == ["b", "a"]


def test_filters_drop_drained_offline_and_disallowed_templates():
    demand = allocator.Demand.of(plain_flavor())
    pool = [backend("ok"), backend("drained", drained=True), backend("offline", offline=True),
            backend("drbd-only", templates=("drbd",)), backend("full", mfree=512)]
    disabled = backend("cluster-drbd-only")  # allowed by the operator, no longer enabled on the cluster
    disabled.cluster_disk_templates = ["drbd"]
    pool.append(disabled)
    assert [b.clustername for b in allocator.candidates(pool, demand)] == ["ok"]


def test_room_needs_memory_disk_and_vcpu_ratio():
    demand = allocator.Demand.of(plain_flavor())  # 1024 MiB, 10240 MiB disk
    assert allocator.has_room(backend("a"), demand)
    assert not allocator.has_room(backend("a", mfree=1024), demand)  # must be larger than the VM
    assert not allocator.has_room(backend("a", dfree=10_240), demand)
    # (pinst+1)*4/ctotal: (11+1)*4/16 = 3.0 is not below 3
    assert not allocator.has_room(backend("a", pinst=11), demand)
    assert allocator.has_room(backend("a", pinst=10), demand)  # 44/16 = 2.75


def test_falls_back_to_all_usable_when_none_has_room():
    demand = allocator.Demand.of(plain_flavor())
    pool = [backend("x", mfree=100), backend("y", mfree=200), backend("z", drained=True, mfree=0)]
    assert sorted(b.clustername for b in allocator.candidates(pool, demand)) == ["x", "y"]


def test_drbd_counts_disk_twice():
    drbd = Flavor(name="d", cpu=1, ram=1024, disk=10, disk_template="drbd")
    assert allocator.Demand.of(drbd).disk_mib == 20_480


def test_allocate_picks_lowest_score_and_reserves_in_the_database(session):
    flavor = plain_flavor()
    a = backend("a")
    b = backend("b", mtotal=65536, mfree=49152, dtotal=2_000_000, dfree=1_000_000, ctotal=32, pinst=2)
    session.add_all([a, b, flavor])
    session.commit()
    chosen = allocator.allocate(session, flavor)
    session.commit()
    assert chosen.clustername == "b"
    session.refresh(b)
    assert (b.mfree, b.dfree, b.pinst_cnt) == (49152 - 1024, 1_000_000 - 10_240, 3)
    session.refresh(a)
    assert (a.mfree, a.dfree, a.pinst_cnt) == (16384, 750_000, 5)


def test_reservations_move_later_allocations(session):
    flavor = plain_flavor()
    # Two equal backends: the first allocation makes its winner worse, so the next goes elsewhere.
    session.add_all([backend("a"), backend("b"), flavor])
    session.commit()
    first = allocator.allocate(session, flavor).clustername
    session.commit()
    session.expire_all()
    second = allocator.allocate(session, flavor).clustername
    session.commit()
    assert {first, second} == {"a", "b"}


def test_pinned_backend_is_used_even_when_drained_but_never_offline(session):
    flavor = plain_flavor()
    drained = backend("drained", drained=True)
    offline = backend("offline", offline=True)
    session.add_all([backend("a"), drained, offline, flavor])
    session.commit()
    assert allocator.allocate(session, flavor, pinned_backend_id=drained.id).clustername == "drained"
    with pytest.raises(allocator.NoBackendAvailable, match="offline"):
        allocator.allocate(session, flavor, pinned_backend_id=offline.id)


def test_no_usable_backend_says_why(session):
    flavor = plain_flavor()
    session.add_all([backend("d", drained=True), flavor])
    session.commit()
    with pytest.raises(allocator.NoBackendAvailable, match="offline, drained"):
        allocator.allocate(session, flavor)


def test_fresh_figures_without_room_mean_no_room(session):
    flavor = plain_flavor()
    session.add_all([backend("x", mfree=100), backend("y", mfree=200), flavor])
    session.commit()
    with pytest.raises(allocator.NoBackendAvailable, match="none has 1024 MiB"):
        allocator.allocate(session, flavor, fresh=lambda b: True)
    # Stale figures: Synnefo's fallback to every usable backend.
    assert allocator.allocate(session, flavor, fresh=lambda b: False).clustername in ("x", "y")


def two_backends(session) -> Flavor:
    """Backends "a" and "b"; the default weighers prefer "b" (figures from the worked score)."""
    flavor = plain_flavor()
    session.add_all([backend("a"), flavor, backend("b", mtotal=65536, mfree=49152, dtotal=2_000_000,
                                                   dfree=1_000_000, ctotal=32, pinst=2)])
    session.commit()
    return flavor


def test_default_weighers_sum_to_the_score_exactly():
    # Synnefo's formula as the allocator computed it in one expression: the split must not
    # change a single bit, or ties and near-ties could rank differently.
    def synnefo(b: Backend) -> float:
        return (0.5 * ((b.pinst_cnt + 1) * 4 / (3 * b.ctotal))
                + 0.5 * ((1 - b.mfree / b.mtotal) + (1 - b.dfree / b.dtotal)))

    rules = scheduler.load(scheduler.DEFAULT_WEIGHERS, scheduler.WEIGHERS)
    for i in range(1, 200):
        b = backend("b", mtotal=7919 * i, mfree=(104_729 * i) % (7919 * i), dtotal=3571 * i + 13,
                    dfree=(15_485_863 * i) % (3571 * i + 13), ctotal=i % 48 + 1, pinst=(31 * i) % 97)
        assert scheduler.total(b, rules) == synnefo(b) == allocator.score(b)


def test_custom_filter_by_dotted_name_changes_the_choice(session):
    # By score "a" wins (ties go to the oldest); only_b leaves "b2" alone, however it scores.
    flavor = plain_flavor()
    session.add_all([backend("a", mfree=30000), backend("c", mfree=30000), backend("b2"), flavor])
    session.commit()
    assert allocator.allocate(session, flavor).clustername == "a"
    chosen = allocator.allocate(session, flavor,
                                filters=(*DEFAULT_FILTERS, "tests.unit.custom_scheduler:only_b"))
    assert chosen.clustername == "b2"


def test_custom_weigher_by_dotted_name_inverts_the_choice(session):
    flavor = two_backends(session)
    assert allocator.allocate(session, flavor, weighers=()).clustername == "b"  # empty: defaults
    assert allocator.allocate(session, flavor,
                              weighers=("tests.unit.custom_scheduler.inverted",)).clustername == "a"


def test_filters_setting_as_a_tuple(session):
    # What SCHEDULER_FILTERS="usable,disk_template,room,tests.unit.custom_scheduler:only_b" gives.
    names = ("usable", "disk_template", "room", "tests.unit.custom_scheduler:only_b")
    rules = scheduler.load(names, scheduler.FILTERS)
    assert rules[:3] == [scheduler.FILTERS[n] for n in DEFAULT_FILTERS]
    flavor = plain_flavor()
    session.add_all([backend("a"), backend("bx", mfree=2000), flavor])
    session.commit()
    assert allocator.allocate(session, flavor, filters=()).clustername == "a"  # empty: defaults
    assert allocator.allocate(session, flavor, filters=names).clustername == "bx"


@pytest.mark.parametrize("name", ["bogus", "vcpu", "orchestrator.nowhere:f", "orchestrator.scheduler:nope",
                                  "tests.unit.custom_scheduler.NotCallable", ""])
def test_unknown_name_is_a_value_error_naming_it(name):
    with pytest.raises(ValueError, match=re.escape(repr(name))):
        scheduler.load(("usable", name), scheduler.FILTERS)


def test_unknown_name_fails_allocate_before_any_choice(session):
    flavor = two_backends(session)
    with pytest.raises(ValueError, match="'nope'"):
        allocator.allocate(session, flavor, weighers=("vcpu", "nope"))
    with pytest.raises(ValueError, match="'nope'"):
        allocator.allocate(session, flavor, pinned_backend_id=1, filters=("nope",))


def test_only_relaxable_filters_are_relaxed_on_stale_figures(session):
    flavor = two_backends(session)
    relaxed = (*DEFAULT_FILTERS, "tests.unit.custom_scheduler:nothing_fits")
    assert allocator.allocate(session, flavor, filters=relaxed, fresh=lambda b: False).clustername == "b"
    with pytest.raises(allocator.NoBackendAvailable, match="none has 1024 MiB"):
        allocator.allocate(session, flavor, filters=relaxed, fresh=lambda b: True)
    # A hard filter refusing all is never relaxed: no backend is usable.
    with pytest.raises(allocator.NoBackendAvailable, match="offline, drained"):
        allocator.allocate(session, flavor, fresh=lambda b: False,
                           filters=(*DEFAULT_FILTERS, "tests.unit.custom_scheduler:refuse_all"))
