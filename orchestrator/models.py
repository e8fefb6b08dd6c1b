"""Database models. The database is the single source of truth for every read."""
from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String,
                        Text, UniqueConstraint, text)
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
    # Why an operator drained it (backend modify --drained --reason), shown beside the flag.
    drained_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
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
    # Its RAPI request budget (orchestrator.rapi.budget): requests per second and in flight,
    # shared by every worker; NULL: the deployment's RAPI_RATE_PER_S / RAPI_CONCURRENCY; 0: no limit.
    rate_per_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    concurrency: Mapped[int | None] = mapped_column(Integer, nullable=True)

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
    # Resized, awaiting its user's confirmation (Nova's VERIFY_RESIZE): the flavor it had, which
    # a revert resizes it back to; NULL when no resize waits (orchestrator.state, services.servers).
    # (No foreign key: a second one to flavors would make the `flavor` join ambiguous; flavors
    # are never deleted, only marked so.)
    resize_from_flavor_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # The user's key/value pairs (Nova's server metadata; services.servers checks their limits).
    # The database's default only, so rows written as an older schema had them still insert.
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, server_default=text("'{}'"))
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
        # One operation in flight per network on one backend (network_create, network_remove).
        Index(
            "uq_operations_in_flight_per_network_backend",
            "network_id",
            "backend_id",
            unique=True,
            sqlite_where=text("network_id IS NOT NULL AND status IN ('PENDING', 'RUNNING')"),
            postgresql_where=text("network_id IS NOT NULL AND status IN ('PENDING', 'RUNNING')"),
        ),
        # The console's per-minute rollup counts the operations that ended in a window by
        # outcome and kind: from this index alone, without reading the rows.
        Index("ix_operations_finished_at", "finished_at", "status", "kind"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # Its target: a server, or a network on one backend (`backend_id`) for the network kinds.
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"), nullable=True, index=True)
    network_id: Mapped[int | None] = mapped_column(ForeignKey("networks.id", name="fk_operations_network_id_networks"),
                                                   nullable=True, index=True)
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
    network: Mapped["Network | None"] = relationship(lazy="select")

    @property
    def is_network(self) -> bool:
        """About a network on one backend (orchestrator.network.operations), not a server."""
        return self.network_id is not None

    @property
    def is_finished(self) -> bool:
        return self.status in (OpStatus.SUCCEEDED.value, OpStatus.FAILED.value)

    @property
    def reason(self) -> str:
        """The reason its current attempt's jobs carry (and the tag of the instance a create makes)."""
        return op_tag(self.id, self.generation)


class OperationMinute(Base):
    """How many operations of a kind ended with an outcome in one UTC minute: the console's
    chart reads these instead of the operations (services.console.fold_minutes writes them)."""

    __tablename__ = "operation_minutes"

    minute: Mapped[dt.datetime] = mapped_column(UtcDateTime(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


class RollupMark(Base):
    """How far a rollup is folded: every minute before `until` is in its table."""

    __tablename__ = "rollup_marks"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    until: Mapped[dt.datetime] = mapped_column(UtcDateTime())


class QueueSample(Base):
    """One broker queue's length at one time (the beat samples them; a bounded history)."""

    __tablename__ = "queue_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), index=True)
    queue: Mapped[str] = mapped_column(String(64))
    length: Mapped[int] = mapped_column(Integer)


class Token(Base):
    """An API token, stored only as its SHA-256 hash."""

    __tablename__ = "tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    admin: Mapped[bool] = mapped_column(Boolean, default=False)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    # A short-lived token (a Keystone token, POST /identity/v3/auth/tokens) is refused from then
    # on; NULL: the product's long-lived tokens, which end when revoked.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True, index=True)
    # The long-lived token it was issued from (NULL: from ORCHESTRATOR_ADMIN_TOKEN): revoking
    # that one ends it too, as Keystone's tokens end with their application credential.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("tokens.id", name="fk_tokens_parent_id_tokens"),
                                                  nullable=True)


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


# --- Networks (docs/networks.md) ------------------------------------------------------------
# A network is an isolated L2 domain with at most one IPv4 and one IPv6 subnet; a port is a
# virtual switch port on it, holding a MAC and one address per subnet; a server's NIC will be
# a port attached to it. Bridges, MAC prefixes and IPv4 addresses are handed out from pools
# (`Pool`): one row per pool, its values as two bitmaps, locked while a value is taken.


class NetworkFlavor(str, enum.Enum):
    """Synnefo's network flavors: how a network is isolated, hence its mode, link and MAC prefix."""

    CUSTOM = "CUSTOM"
    IP_LESS_ROUTED = "IP_LESS_ROUTED"
    MAC_FILTERED = "MAC_FILTERED"
    PHYSICAL_VLAN = "PHYSICAL_VLAN"


class NetworkState(str, enum.Enum):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    ERROR = "ERROR"
    DELETED = "DELETED"


class PortState(str, enum.Enum):
    BUILD = "BUILD"
    ACTIVE = "ACTIVE"
    DOWN = "DOWN"  # on no server, or its server is down
    ERROR = "ERROR"


class PoolType(str, enum.Enum):
    IP = "ip"  # one per IPv4 subnet, made with it
    BRIDGE = "bridge"  # PHYSICAL_VLAN networks' links
    MAC_PREFIX = "mac-prefix"  # MAC_FILTERED networks' MAC prefixes


# Each partial index below holds live rows only: a deleted row keeps what it had, for history.
_LIVE = "NOT deleted"


def _live_index(name: str, *columns: str, where: str = _LIVE) -> Index:
    return Index(name, *columns, unique=True, sqlite_where=text(where), postgresql_where=text(where))


class Pool(Timestamped, Base):
    """A pool of values (IPv4 addresses of a subnet, bridges, MAC prefixes), as Synnefo's pool
    tables: value `i` is `base` shifted by `offset + i` (orchestrator.network.pools), and two
    bitmaps of `size` bits, bit `i` for value `i` (little-endian bytes):
    `available_map` 1 = not handed out, `reserved_map` 1 = reserved (by an operator, or
    because the value may never be handed out: a subnet's network, broadcast and gateway
    addresses, a MAC prefix that is multicast or not locally administered).
    Taking or returning a value locks the row (orchestrator.network.pools.lock)."""

    __tablename__ = "pools"
    __table_args__ = (
        # One live bridge pool and one live MAC-prefix pool.
        _live_index("uq_pools_live_type", "type", where=f"{_LIVE} AND type <> 'ip'"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(16))
    base: Mapped[str] = mapped_column(String(64))
    offset: Mapped[int] = mapped_column(Integer, default=0)
    size: Mapped[int] = mapped_column(Integer)
    available_map: Mapped[bytes] = mapped_column(LargeBinary)
    reserved_map: Mapped[bytes] = mapped_column(LargeBinary)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    # An IPv4 pool's subnet (the subnet holds the reference).
    subnet: Mapped["Subnet | None"] = relationship(back_populates="pool", uselist=False, lazy="select")

    def _bits(self) -> tuple[int, int, int]:
        mask = (1 << self.size) - 1
        return (int.from_bytes(self.available_map, "little") & mask,
                int.from_bytes(self.reserved_map, "little") & mask, mask)

    @property
    def used(self) -> int:
        available, _reserved, mask = self._bits()
        return (mask & ~available).bit_count()

    @property
    def reserved(self) -> int:
        available, reserved, _mask = self._bits()
        return (reserved & available).bit_count()

    @property
    def free(self) -> int:
        available, reserved, _mask = self._bits()
        return (available & ~reserved).bit_count()


class Network(Timestamped, Base):
    """A virtual network: private (a user's) or public (user_id NULL, made by administrators
    on backends by network_create operations).

    `mode`, `link` and `mac_prefix` are what Ganeti's network gets (its mode and link on each
    backend; `ganeti_mac_prefix`); they follow from the flavor (orchestrator.network.flavors).
    A link or MAC prefix taken from a pool names its pool, and goes back to it only when the
    network is finally deleted."""

    __tablename__ = "networks"
    __table_args__ = (
        # A value drawn from a pool is held by one live network: the database refuses a double.
        _live_index("uq_networks_live_pooled_link", "link", where=f"{_LIVE} AND link_pool_id IS NOT NULL"),
        _live_index("uq_networks_live_pooled_mac_prefix", "mac_prefix",
                    where=f"{_LIVE} AND mac_prefix_pool_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    flavor: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    link: Mapped[str] = mapped_column(String(64))
    mac_prefix: Mapped[str] = mapped_column(String(32))
    link_pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), nullable=True)
    mac_prefix_pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default=NetworkState.ACTIVE.value)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # A public network users draw floating IPs from (Synnefo's floating_ip_pool); drained: no
    # floating IP is drawn from it or attached by it any more (those attached stay).
    floating_ip_pool: Mapped[bool] = mapped_column(Boolean, default=False)
    drained: Mapped[bool] = mapped_column(Boolean, default=False)

    subnets: Mapped[list["Subnet"]] = relationship(back_populates="network", order_by="Subnet.id",
                                                   lazy="selectin")
    backend_networks: Mapped[list["BackendNetwork"]] = relationship(
        back_populates="network", order_by="BackendNetwork.id", lazy="select")
    # The operations that put it on (or take it off) backends, oldest first.
    operations: Mapped[list["Operation"]] = relationship(
        order_by="Operation.id", lazy="select", viewonly=True)

    def ganeti_name(self, prefix: str) -> str:
        """Its Ganeti network's name on every backend: `<BACKEND_PREFIX_ID>net-<id>`."""
        return f"{prefix}net-{self.id}"

    @staticmethod
    def id_of_ganeti_network(name: object, prefix: str) -> int | None:
        """The network id a Ganeti network name `<prefix>net-<id>` stands for; None otherwise."""
        head = f"{prefix}net-"
        if not isinstance(name, str) or not name.startswith(head) or not name[len(head):].isdigit():
            return None
        return int(name[len(head):])

    @property
    def ganeti_mac_prefix(self) -> str:
        """The three octets Ganeti's network is given: the 2.5 of `mac_prefix` and a 0 nibble,
        the same on every backend (ports' MACs are made by the orchestrator, not by Ganeti:
        orchestrator.network.addressing.port_mac)."""
        return f"{self.mac_prefix}0"

    @property
    def subnet_ids(self) -> list[int]:
        """Its live subnets' (a deleted network: those it had)."""
        return [subnet.id for subnet in self.subnets if self.deleted or not subnet.deleted]


class BackendNetwork(Timestamped, Base):
    """A network as one backend holds it (its Ganeti network, added and connected there by
    jobs): written with its network_create operation, its state moved only by
    orchestrator.network.state.apply_network_report."""

    __tablename__ = "backend_networks"
    __table_args__ = (UniqueConstraint("network_id", "backend_id", name="uq_backend_networks_network_backend"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    backend_id: Mapped[int] = mapped_column(ForeignKey("backends.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=NetworkState.PENDING.value)
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    job_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # Ganeti time of the last job applied, as Server.backend_time.
    backend_time: Mapped[float | None] = mapped_column(Float, nullable=True)

    network: Mapped[Network] = relationship(back_populates="backend_networks")
    backend: Mapped[Backend] = relationship(lazy="joined")


class Subnet(Timestamped, Base):
    """An IPv4 or IPv6 block of a network. IPv4 addresses come from its pool (`pool`, the
    `allocation_pools` ranges); IPv6 ones are the EUI-64 of each port's MAC (a /64, no pool)."""

    __tablename__ = "subnets"
    # One IPv4 and at most one IPv6 subnet per network (Synnefo's rule).
    __table_args__ = (_live_index("uq_subnets_live_network_version", "network_id", "ip_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    ip_version: Mapped[int] = mapped_column(Integer, default=4)
    cidr: Mapped[str] = mapped_column(String(64))
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dhcp: Mapped[bool] = mapped_column(Boolean, default=True)
    dns_nameservers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # [{"start": "10.0.0.2", "end": "10.0.0.254"}, ...], in order; empty for IPv6.
    allocation_pools: Mapped[list[Any]] = mapped_column(JSON, default=list)
    user_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("pools.id"), nullable=True, unique=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    network: Mapped[Network] = relationship(back_populates="subnets")
    pool: Mapped[Pool | None] = relationship(back_populates="subnet", lazy="select")


class Port(Timestamped, Base):
    """A port on a network: its MAC, one address per subnet (`addresses`), and later the server
    whose NIC it is (`server_id`, `index` among that server's NICs)."""

    __tablename__ = "ports"
    __table_args__ = (
        _live_index("uq_ports_live_mac", "mac"),
        _live_index("uq_ports_live_server_index", "server_id", "index",
                    where=f"{_LIVE} AND server_id IS NOT NULL"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    server_id: Mapped[int | None] = mapped_column(ForeignKey("servers.id"), nullable=True, index=True)
    state: Mapped[str] = mapped_column(String(16), default=PortState.DOWN.value)
    index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    mac: Mapped[str] = mapped_column(String(17))
    # Made by its user on its own (not for a server): detaching it from a server through the
    # OpenStack API keeps it, as Neutron's preserve_on_delete (services.servers.disconnect).
    preserve_on_delete: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)

    network: Mapped[Network] = relationship(lazy="select")
    addresses: Mapped[list["IPAddress"]] = relationship(back_populates="port", order_by="IPAddress.id",
                                                       lazy="selectin")

    def ganeti_name(self, prefix: str) -> str:
        """Its Ganeti NIC's name: `<BACKEND_PREFIX_ID>nic-<id>`."""
        return f"{prefix}nic-{self.id}"

    @property
    def fixed_ips(self) -> list[dict[str, Any]]:
        """Its addresses, [{"subnet_id", "ip_address"}] (a removed port: those it gave back)."""
        return [{"subnet_id": a.subnet_id, "ip_address": a.address}
                for a in self.addresses if self.deleted or not a.deleted]


class IPAddress(Timestamped, Base):
    """An address of a subnet held by a port, or a floating IP: a public address its user owns
    (`floating_ip`), on a port while it is attached to a server and on none between. `deleted`
    once given back (`released_at`): when its port is removed, or for a floating IP when its
    user releases it."""

    __tablename__ = "ip_addresses"
    # No address of a subnet is held twice: the pool's lock decides, the database checks.
    __table_args__ = (_live_index("uq_ip_addresses_live_subnet_address", "subnet_id", "address"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subnet_id: Mapped[int] = mapped_column(ForeignKey("subnets.id"), index=True)
    port_id: Mapped[int | None] = mapped_column(ForeignKey("ports.id"), nullable=True, index=True)
    address: Mapped[str] = mapped_column(String(64))
    ip_version: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    floating_ip: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    released_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    port: Mapped[Port | None] = relationship(back_populates="addresses")
    subnet: Mapped[Subnet] = relationship(lazy="select")


class IPAddressLog(Base):
    """Which server held a public address, from when to when (Synnefo's IPAddressLog, kept for
    abuse reports): a row opens when a floating IP's NIC is on the server, closes when it is
    detached, released or the server is destroyed. Never deleted."""

    __tablename__ = "ip_address_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    ip_address_id: Mapped[int] = mapped_column(ForeignKey("ip_addresses.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"))
    server_id: Mapped[int] = mapped_column(ForeignKey("servers.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(255))
    allocated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    released_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


# --- Quotas (docs/quotas.md) ------------------------------------------------------------------
# Per user and resource (Synnefo's cyclades.* names, orchestrator.quotas.resources): the limit
# (NULL: the deployment's QUOTA_DEFAULTS), what the user's rows hold and what is reserved for
# operations in flight. Those rows are the per-user lock of a check-and-reserve; everything
# else that moves usage (an operation's end, an event, a fix) appends a `QuotaChange` instead,
# which takes no lock, and the next lock holder folds the changes into the holdings.


class QuotaHolding(Base):
    """One user's quota of one resource: `limit` (NULL: the deployment's default, -1: no
    limit), `usage` (what the user's rows hold) and `pending` (reserved by commissions not yet
    resolved), both less the `QuotaChange` rows not folded in yet."""

    __tablename__ = "quota_holdings"
    __table_args__ = (UniqueConstraint("user_id", "resource", name="uq_quota_holdings_user_resource"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    resource: Mapped[str] = mapped_column(String(64))
    limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    usage: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    pending: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)


class QuotaChange(Base):
    """A change of usage or pending not folded into its holding yet: appended (no lock) by
    whatever moved it, summed and deleted by the next holder of the user's lock."""

    __tablename__ = "quota_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    resource: Mapped[str] = mapped_column(String(64))
    usage: Mapped[int] = mapped_column(BigInteger, default=0)
    pending: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)


class QuotaCommission(Base):
    """What an operation reserved when it was accepted (`reserved`: resource -> amount),
    resolved once when it ends: ACCEPTED (it succeeded) or REJECTED (it failed, was canceled
    or superseded); the reservation goes back to the user either way, since a success's
    effect is in the usage its state change made. One PENDING commission per operation."""

    __tablename__ = "quota_commissions"
    __table_args__ = (
        Index("uq_quota_commissions_pending_operation", "operation_id", unique=True,
              sqlite_where=text("state = 'PENDING'"), postgresql_where=text("state = 'PENDING'")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(255), index=True)
    operation_id: Mapped[int | None] = mapped_column(ForeignKey("operations.id"), nullable=True, index=True)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16), default="PENDING", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime(), default=utcnow)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime(), nullable=True)
