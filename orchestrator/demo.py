"""Demo data for a one-machine stack: a backend per simulated cluster, flavors, an image, and
the bridge and MAC-prefix pools networks take their links and prefixes from."""
from __future__ import annotations

import os

from sqlalchemy import select
from sqlalchemy.orm import Session

from .credentials import Credentials
from .models import Backend, Flavor, Image, PoolType
from .network import pools
from .settings import Settings

DEMO_FLAVORS = [
    ("c1r1024d10", 1, 1024, 10, "plain"),
    ("c2r2048d20", 2, 2048, 20, "plain"),
    ("c4r4096d40", 4, 4096, 40, "plain"),
    ("c2r2048d20-drbd", 2, 2048, 20, "drbd"),
]
# As the admin guide's examples: bridges prv1..prv20 (PHYSICAL_VLAN networks), MAC prefixes
# from aa:00:0 (MAC_FILTERED networks; the unicast, locally administered ones are handed out).
DEMO_POOLS = [(PoolType.BRIDGE.value, "prv", 20), (PoolType.MAC_PREFIX.value, "aa:00:0", 65536)]


def seed(session: Session, env: dict[str, str] | None = None, credentials: Credentials | None = None
         ) -> dict[str, list]:
    """Create what is missing; running it twice changes nothing.

    The simulated clusters are described by the `make run` stack's SIM_* variables (`env`,
    or this process's environment); their password is sealed with `credentials`, else with
    the keys the settings of that same environment give, which the stack's processes read."""
    env = dict(os.environ if env is None else env)
    created = {"backends": _backends(session, env, credentials), "flavors": _flavors(session),
               "images": _image(session), "pools": _pools(session, Settings.from_env(env).default_mac_prefix)}
    session.commit()
    return created


def _backends(session: Session, env: dict[str, str], credentials: Credentials | None) -> list[str]:
    base_port, host = int(env.get("SIM_BASE_PORT", "5080")), env.get("SIM_HOST", "127.0.0.1")
    created = []
    for index in range(int(env.get("SIM_CLUSTERS", "2"))):
        name = f"cluster{index + 1}.sim.local"
        if session.scalars(select(Backend).where(Backend.clustername == name)).first():
            continue
        credentials = credentials or Credentials.from_settings(Settings.from_env(env))
        password = credentials.seal(env.get("SIM_RAPI_PASSWORD", "rapi-secret"))
        session.add(Backend(clustername=name, host=host, port=base_port + index, scheme=env.get("SIM_SCHEME", "http"),
                            username=env.get("SIM_RAPI_USER", "rapi"), password=password, verify_tls=False,
                            drained=False))
        created.append(name)
    return created


def _flavors(session: Session) -> list[str]:
    created = []
    for name, cpu, ram, disk, template in DEMO_FLAVORS:
        if not session.scalars(select(Flavor).where(Flavor.name == name)).first():
            session.add(Flavor(name=name, cpu=cpu, ram=ram, disk=disk, disk_template=template))
            created.append(name)
    return created


def _image(session: Session) -> list[str]:
    if session.scalars(select(Image).where(Image.name == "debian-12")).first():
        return []
    session.add(Image(name="debian-12", location="debian-12-amd64.diskdump", os="snf-image+default", public=True,
                      properties={"OSFAMILY": "linux", "ROOT_PARTITION": "1", "format": "diskdump"}))
    return ["debian-12"]


def _pools(session: Session, default_mac_prefix: str) -> list[str]:
    """A pool of each type, unless there is a live one already (an operator's)."""
    created = []
    for kind, base, size in DEMO_POOLS:
        if pools.live_pool(session, kind) is None:
            keep = (default_mac_prefix,) if kind == PoolType.MAC_PREFIX.value else ()
            session.add(pools.new_pool(kind, base, size, reserve_values=keep))
            created.append(kind)
    return created
