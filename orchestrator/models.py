"""Database models. The database is the single source of truth for every read."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.types import TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from .ganeti import op_tag


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every database, in and out: SQLite keeps no zone, so what is
    written is converted to UTC and what is read back is marked UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Timestamped:
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(
        UtcDateTime(), default=utcnow, onupdate=utcnow
    )


class Backend(Timestamped, Base):
    """A Ganeti cluster reached through its RAPI, with the capacity last read from it."""

    __tablename__ = "backends"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    clustername: Mapped[str] = mapped_column(String(255), unique=True)
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=5080)
    scheme: Mapped[str] = mapped_column(String(5), default="https")
    username: Mapped[str] = mapped_column(String(255))
    # Sealed (orchestrator.credentials): a Fernet token, never the clear password.
    password: Mapped[str] = mapped_column(Text)
    verify_tls: Mapped[bool] = mapped_column(Boolean, default=True)
    drained: Mapped[bool] = mapped_column(Boolean, default=True)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    offline_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # What the operator allows here (the cluster's enabled templates when it was added)...
    disk_templates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # ...and what the cluster enables as of the last refresh: the allocator needs both.
    cluster_disk_templates: Mapped[list[Any]] = mapped_column(JSON, default=list)
    mtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    mfree: Mapped[int] = mapped_column(BigInteger, default=0)
    dtotal: Mapped[int] = mapped_column(BigInteger, default=0)
    dfree: Mapped[int] = mapped_column(BigInteger, default=0)
    ctotal: Mapped[int] = mapped_column(Integer, default=0)
    pinst_cnt: Mapped[int] = mapped_column(Integer, default=0)
    stats_updated_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


class Flavor(Timestamped, Base):
    __tablename__ = "flavors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    cpu: Mapped[int] = mapped_column(Integer)
    ram: Mapped[int] = mapped_column(Integer)  # MiB
    disk: Mapped[int] = mapped_column(Integer)  # GiB
    disk_template: Mapped[str] = mapped_column(String(32), default="plain")
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)


class Image(Timestamped, Base):
    __tablename__ = "images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    location: Mapped[str] = mapped_column(String(1024))
    os: Mapped[str] = mapped_column(String(64), default="snf-image+default")
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[str | None] = mapped_column(String(255), nullable=True)


class OperState(str, enum.Enum):
    BUILD = "BUILD"
    STARTED = "STARTED"
    STOPPED = "STOPPED"
    ERROR = "ERROR"
    DESTROYED = "DESTROYED"


class Server(Timestamped, Base):
    __tablename__ = "servers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    name: Mapped[str] = mapped_column(String(255))
    flavor_id: Mapped[int] = mapped_column(ForeignKey("flavors.id"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    backend_id: Mapped[int | None] = mapped_column(ForeignKey("backends.id"), nullable=True, index=True)
    operstate: Mapped[str] = mapped_column(String(16), default=OperState.BUILD.value, index=True)
    backend_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    backend_job_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    backend_opcode: Mapped[str | None] = mapped_column(String(64), nullable=True)
    backend_log_msg: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Ganeti time of the last successful job applied; older reports are ignored.
    backend_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    build_percentage: Mapped[int] = mapped_column(Integer, default=0)
    # What an in-flight action shows instead of the operstate (REBOOT, RESIZE), as Synnefo's task.
    task: Mapped[str | None] = mapped_column(String(16), nullable=True)
    nics: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Ganeti's time of the NIC report the row shows: an older report arriving late is stale.
    nics_time: Mapped[float | None] = mapped_column(Float, nullable=True)
    suspended: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Staggered reconciliation checks the least recently checked servers first.
    last_reconciled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    flavor: Mapped[Flavor] = relationship(lazy="joined")
    image: Mapped[Image] = relationship(lazy="joined")
    backend: Mapped[Backend | None] = relationship(lazy="joined")

    def instance_name(self, prefix: str) -> str:
        return f"{prefix}{self.id}"

    @staticmethod
    def id_of_instance(name: object, prefix: str) -> int | None:
        """The server id an instance name `<prefix><id>` stands for; None for any other name."""
        if not isinstance(name, str) or not name.startswith(prefix) or not name[len(prefix):].isdigit():
            return None
        return int(name[len(prefix):])


class OpStatus(str, enum.Enum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class Step(str, enum.Enum):
    ALLOCATE = "allocate"
    SUBMIT = "submit"
    POLL = "poll"
    FINALIZE = "finalize"
    DONE = "done"


IN_FLIGHT = ("PENDING", "RUNNING")


class Operation(Timestamped, Base):
    """The durable record of one requested action, written before anything is enqueued."""

    __tablename__ = "operations"
    # One operation in flight per server, enforced by the database so two racing
    # requests cannot both start one.
    __table_args__ = (
        Index(
            "uq_operations_in_flight_per_server",
            "server_id",
            unique=True,
            sqlite_where=text("status IN ('PENDING', 'RUNNING')"),
            postgresql_where=text("status IN ('PENDING', 'RUNNING')"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"), nullable=True, index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), default=OpStatus.PENDING.value, index=True)
    step: Mapped[str] = mapped_column(String(16), default=Step.ALLOCATE.value)
    backend_id: Mapped[int | None] = mapped_column(ForeignKey("backends.id"), nullable=True)
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    job_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Set just before a RAPI write is sent: on replay it means "look before submitting again".
    submit_started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # A chain is sending the write until then: another chain of the operation sends none.
    submit_lease_until: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The attempt: 0, then one more at every retry. Its jobs carry it in their reason (`reason`).
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # The current attempt is past its deadline then: its job is canceled and it fails
    # (orchestrator.deadlines); an operator's cancel brings it to now.
    deadline_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Touched by every step run, polls included: recovery re-drives operations it stops moving.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # How often recovery re-drove it: each re-drive doubles the wait before the next one.
    redrives: Mapped[int] = mapped_column(Integer, default=0)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    server: Mapped[Server | None] = relationship(lazy="joined")

    @property
    def is_finished(self) -> bool:
        return self.status in (OpStatus.SUCCEEDED.value, OpStatus.FAILED.value)

    @property
    def reason(self) -> str:
        """The reason its current attempt's jobs carry (and the tag of the instance a create makes)."""
        return op_tag(self.id, self.generation)


class Token(Base):
    """An API token, stored only as its SHA-256 hash."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ReconciliationRun(Base):
    """One reconciliation pass: what it looked at and what it found."""

    __tablename__ = "reconciliation_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default="beat")
    fixes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    backends_checked: Mapped[list[Any]] = mapped_column(JSON, default=list)
    backends_skipped: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    servers_checked: Mapped[int] = mapped_column(Integer, default=0)

    findings: Mapped[list["Finding"]] = relationship(back_populates="run", order_by="Finding.id")


class Finding(Base):
    """A disagreement between the database and a cluster, and whether it was fixed."""

    __tablename__ = "reconciliation_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    backend_id: Mapped[int | None] = mapped_column(ForeignKey("backends.id"), nullable=True)
    server_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    instance: Mapped[str | None] = mapped_column(String(255), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    fixed: Mapped[bool] = mapped_column(Boolean, default=False)
    fix: Mapped[str | None] = mapped_column(Text, nullable=True)

    run: Mapped[ReconciliationRun] = relationship(back_populates="findings")
