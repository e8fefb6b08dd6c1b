"""The allocate step against a real database: pins and admin choices bypass the allocator."""
from __future__ import annotations


from orchestrator import steps
from orchestrator.models import Backend, Flavor, Image, Operation, Server, utcnow
from tests.conftest import context_for


def _backend(name: str, **kw) -> Backend:
    figures = dict(mtotal=32768, mfree=16384, dtotal=1_000_000, dfree=750_000, ctotal=16, pinst_cnt=0,
                   drained=False, stats_updated_at=utcnow(), disk_templates=["plain"])
    return Backend(clustername=name, host="127.0.0.1", port=1, username="u", password="p", **{**figures, **kw})


def _create(session, user: str, params: dict | None = None) -> Operation:
    flavor = session.query(Flavor).first() or Flavor(name="f", cpu=1, ram=1024, disk=10)
    image = session.query(Image).first() or Image(name="i", location="l")
    server = Server(user_id=user, name="s", flavor=flavor, image=image)
    session.add(server)
    session.flush()
    op = Operation(kind="create", server_id=server.id, user_id=user, params=params or {})
    session.add(op)
    session.commit()
    return op


def test_backend_per_user_pins_even_to_a_drained_backend(session, db_url):
    free, drained = _backend("free"), _backend("pinned", drained=True)
    session.add_all([free, drained])
    session.commit()
    ctx = context_for(db_url, backend_per_user={"vip": drained.id})  # BACKEND_PER_USER=vip=<id>
    vip, other = _create(session, "vip"), _create(session, "someone")
    steps.allocate(session, vip.id, ctx)
    steps.allocate(session, other.id, ctx)
    assert session.get(Server, vip.server_id).backend_id == drained.id
    assert session.get(Server, other.server_id).backend_id == free.id


def test_admin_backend_choice_bypasses_the_allocator(session, context):
    a, b = _backend("a"), _backend("b", mfree=100)  # b has no room: the allocator would never pick it
    session.add_all([a, b])
    session.commit()
    op = _create(session, "admin", {"backend_id": b.id})
    steps.allocate(session, op.id, context)
    assert session.get(Server, op.server_id).backend_id == b.id
    assert session.get(Operation, op.id).step == "submit"


def test_a_successful_poll_of_a_running_job_resets_the_transient_count(session, context):
    """RAPI_MAX_ATTEMPTS counts failures in a row: a long job's scattered hiccups never add up."""
    from ganeti_sim import SimFleet
    from orchestrator.models import Step

    fleet = SimFleet(clusters=1, base_port=0, host="127.0.0.1", job_duration=60, user="rapi",
                     password="rapi-secret").start()
    try:
        cluster = fleet.clusters[0]
        backend = _backend("slow", scheme="http")
        backend.port, backend.username = cluster.port, "rapi"
        backend.password = context.credentials.seal("rapi-secret")
        session.add(backend)
        session.commit()
        client = context.cluster(backend)
        job_id = client.instance_info(cluster.cluster.populate(1)[0])  # a job that runs a minute
        op = _create(session, "u")
        op.server.backend = backend
        op.step, op.status, op.job_id, op.attempts = Step.POLL.value, "RUNNING", job_id, 5
        session.commit()
        assert steps.poll(session, op.id, context) is steps.Poll.PENDING, (op.error, op.job_status)
        session.expire_all()
        assert session.get(Operation, op.id).attempts == 0
    finally:
        fleet.stop()
