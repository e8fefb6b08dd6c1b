"""The catalog an operator keeps: backends (Ganeti clusters), flavors and images.

Plain functions that take a session, validate, and write (flushed, never committed):
the API and the CLI both call them, so the rules live here once. The only cluster
call is the one `/2/info` that checks a backend's address and credentials when they
are added or changed, as an operator explicitly asks.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .credentials import Credentials
from .errors import Conflict, Forbidden, Invalid, NotFound
from .models import IN_FLIGHT, Backend, BackendNetwork, Finding, Flavor, Image, Operation, Server
from .rapi import Endpoint, RapiClient, RapiError, RapiUnauthorized, RapiUnavailable
from .settings import Settings
from .validation import (UNREGISTERED, check_credential, check_host, check_location, check_name,
                         check_os_provider, check_properties)

DISK_TEMPLATES = ("plain", "drbd", "file", "sharedfile", "blockdev", "rbd", "diskless", "ext")
# snf-image's formats; stored in the image's properties as `format`, which the create spec reads.
DISK_FORMATS = ("diskdump", "extdump", "ntfsdump")
SCHEMES = ("http", "https")
# Until images get a `deleted` column, an unregistered image that servers still use keeps its
# row (the servers' foreign key) and carries this property; it is never listed nor chosen.
ADMIN_OFFLINE_REASON = "set offline by an administrator"


# -- backends ---------------------------------------------------------------

def get_backend(session: Session, backend_id: int) -> Backend:
    backend = session.get(Backend, backend_id)
    if backend is None:
        raise NotFound(f"backend {backend_id} not found")
    return backend


def list_backends(session: Session, **filters: Any) -> list[Backend]:
    query = select(Backend).order_by(Backend.id)
    for key in ("clustername", "host", "drained", "offline"):
        if filters.get(key) is not None:
            query = query.where(getattr(Backend, key) == filters[key])
    return list(session.scalars(query))


def check_cluster(settings: Settings, host: str, port: int, scheme: str, username: str, password: str,
                  verify_tls: bool) -> dict[str, Any]:
    """One `/2/info` call with these credentials; a clear 422 when the cluster does not
    answer or refuses them. The password never appears in a message."""
    verify: bool | str = (settings.rapi_ca_file or True) if verify_tls else False
    timeout = min(settings.rapi_timeout_s, 5.0)
    endpoint = Endpoint(f"{scheme}://{host}:{port}", username, password, verify, timeout)
    client = RapiClient(endpoint, read_retries=0)
    where = f"{scheme}://{host}:{port}"
    try:
        info = client.info()
    except RapiUnauthorized as exc:
        raise Invalid(f"the cluster at {where} rejected the RAPI credentials ({exc.code})",
                      field="password") from None
    except RapiUnavailable as exc:
        raise Invalid(f"the cluster at {where} does not answer: {exc.message}", field="host") from None
    except RapiError as exc:
        raise Invalid(f"the cluster at {where} refused /2/info: {exc.message}", field="host") from None
    finally:
        client.session.close()
    if not isinstance(info, dict) or not info.get("name"):
        raise Invalid(f"{where} does not look like a Ganeti RAPI: /2/info has no cluster name", field="host")
    return info


def _info_templates(info: dict[str, Any]) -> list[str]:
    return list(info.get("enabled_disk_templates") or (info.get("ipolicy") or {}).get("disk-templates") or [])


def _check_templates(templates: Iterable[str]) -> list[str]:
    templates = list(dict.fromkeys(templates))
    unknown = [t for t in templates if t not in DISK_TEMPLATES]
    if unknown:
        raise Invalid(f"unknown disk templates {unknown}; choose from {', '.join(DISK_TEMPLATES)}",
                      field="disk_templates")
    return templates


def add_backend(session: Session, settings: Settings, credentials: Credentials, *, host: str, username: str,
                password: str, port: int = 5080, scheme: str = "https", clustername: str | None = None,
                verify_tls: bool = True, drained: bool = True, disk_templates: list[str] | None = None) -> Backend:
    """Add a cluster after one `/2/info` call; drained by default, as Synnefo adds them.

    The cluster's name comes from `/2/info` unless given; the allowed disk templates are
    the cluster's enabled ones unless given (a subset restricts what the allocator sends).
    The password is stored sealed with `credentials`, from the first write on.
    """
    check_host(host)
    check_credential(username, "username")
    check_credential(password, "password")
    if clustername is not None:
        check_name(clustername, "clustername")
    if scheme not in SCHEMES:
        raise Invalid(f"scheme must be one of {', '.join(SCHEMES)}", field="scheme")
    if session.scalars(select(Backend).where(Backend.host == host, Backend.port == port)).first():
        raise Conflict(f"a backend already reaches {host}:{port}", field="host")
    if clustername and session.scalars(select(Backend).where(Backend.clustername == clustername)).first():
        raise Conflict(f"clustername {clustername!r} is already taken", field="clustername")
    info = check_cluster(settings, host, port, scheme, username, password, verify_tls)
    clustername = clustername or check_name(str(info["name"]), "clustername")
    if session.scalars(select(Backend).where(Backend.clustername == clustername)).first():
        raise Conflict(f"clustername {clustername!r} is already taken", field="clustername")
    enabled = _info_templates(info)
    templates = _check_templates(disk_templates) if disk_templates is not None else enabled
    if disk_templates is not None and enabled:
        missing = [t for t in templates if t not in enabled]
        if missing:
            raise Invalid(f"the cluster does not enable disk templates {missing} (it enables {enabled})",
                          field="disk_templates")
    backend = Backend(clustername=clustername, host=host, port=port, scheme=scheme, username=username,
                      password=credentials.seal(password), verify_tls=verify_tls, drained=drained, offline=False,
                      disk_templates=templates, cluster_disk_templates=enabled)
    session.add(backend)
    session.flush()
    return backend


CONNECTION_FIELDS = ("host", "port", "scheme", "username", "password", "verify_tls")


def modify_backend(session: Session, settings: Settings, credentials: Credentials, backend: Backend,
                   **changes: Any) -> Backend:
    """drained, offline, clustername, disk_templates, and the connection (host, port, scheme,
    credentials, TLS): a changed connection is checked with one `/2/info` call first.

    A password given is always checked (the stored one is sealed: nothing to compare it
    with unopened) and stored sealed; the stored one is opened only to check a new address.
    """
    changes = {k: v for k, v in changes.items() if v is not None}
    unknown = set(changes) - {"drained", "offline", "clustername", "disk_templates", *CONNECTION_FIELDS}
    if unknown:
        raise Invalid(f"cannot modify {sorted(unknown)}")
    for key, check in (("clustername", check_name), ("host", check_host), ("username", check_credential),
                       ("password", check_credential)):
        if key in changes:
            check(changes[key], key)
    if "scheme" in changes and changes["scheme"] not in SCHEMES:
        raise Invalid(f"scheme must be one of {', '.join(SCHEMES)}", field="scheme")
    if "clustername" in changes and changes["clustername"] != backend.clustername:
        if session.scalars(select(Backend).where(Backend.clustername == changes["clustername"])).first():
            raise Conflict(f"clustername {changes['clustername']!r} is already taken", field="clustername")
    if "password" in changes or any(f in changes and changes[f] != getattr(backend, f)
                                    for f in CONNECTION_FIELDS if f != "password"):
        connection = {f: changes[f] if f in changes else getattr(backend, f) for f in CONNECTION_FIELDS}
        if "password" not in changes:
            connection["password"] = credentials.password(backend)
        if (connection["host"], connection["port"]) != (backend.host, backend.port) and session.scalars(
                select(Backend).where(Backend.host == connection["host"], Backend.port == connection["port"],
                                      Backend.id != backend.id)).first():
            raise Conflict(f"a backend already reaches {connection['host']}:{connection['port']}", field="host")
        check_cluster(settings, **connection)
        if "password" in changes:
            changes["password"] = credentials.seal(changes["password"])
    if "disk_templates" in changes:
        changes["disk_templates"] = _check_templates(changes["disk_templates"])
    if "offline" in changes:
        offline = bool(changes.pop("offline"))
        if offline != backend.offline:
            backend.offline = offline
            backend.offline_reason = ADMIN_OFFLINE_REASON if offline else None
            backend.consecutive_failures = 0
    for key, value in changes.items():
        setattr(backend, key, value)
    session.flush()
    return backend


def remove_backend(session: Session, backend: Backend) -> None:
    """Refused (409) while servers that are not deleted live on it or an operation is in flight there.

    Deleted servers, past operations and findings keep their rows and lose the reference.
    """
    live = session.scalar(select(func.count(Server.id)).where(Server.backend_id == backend.id,
                                                              Server.deleted.is_(False)))
    if live:
        raise Conflict(f"backend {backend.id} hosts {live} server(s) that are not deleted; "
                       "delete or move them first")
    busy = session.scalar(select(func.count(Operation.id)).where(Operation.backend_id == backend.id,
                                                                 Operation.status.in_(IN_FLIGHT)))
    if busy:
        raise Conflict(f"backend {backend.id} has {busy} operation(s) in flight")
    for model in (Server, Operation, Finding):
        session.execute(update(model).where(model.backend_id == backend.id).values(backend_id=None)
                        .execution_options(synchronize_session=False))
    _forget_networks(session, backend.id)
    session.delete(backend)
    session.flush()


def _forget_networks(session: Session, backend_id: int) -> None:
    """The networks' rows on a backend being removed go with it (its Ganeti networks stay with
    the cluster), and each network's state is taken again from the backends left."""
    from .network.state import refresh_network

    rows = session.scalars(select(BackendNetwork).where(BackendNetwork.backend_id == backend_id)).all()
    networks = {row.network for row in rows}
    for row in rows:
        session.delete(row)
    session.flush()
    for network in networks:
        session.expire(network, ["backend_networks"])
        refresh_network(network)


# -- flavors ----------------------------------------------------------------

def flavor_name(cpu: int, ram: int, disk: int, disk_template: str) -> str:
    """snf-manage flavor-create's naming: C<cpus>R<ram MiB>D<disk GiB><template>."""
    return f"C{cpu}R{ram}D{disk}{disk_template}"


MAX_FLAVORS_PER_CREATE = 256


def _as_list(value: Any, field: str) -> list:
    values = list(value) if isinstance(value, (list, tuple)) else [value]
    if not values:
        raise Invalid(f"{field} must not be empty", field=field)
    return list(dict.fromkeys(values))


def create_flavors(session: Session, *, cpu: Any, ram: Any, disk: Any, disk_template: Any = "plain",
                   name: str | None = None) -> list[Flavor]:
    """One flavor, or the cartesian product of lists of CPUs, RAM, disk and disk templates
    (as snf-manage flavor-create does). All or nothing: a taken name is a 409."""
    cpus, rams, disks = _as_list(cpu, "cpu"), _as_list(ram, "ram"), _as_list(disk, "disk")
    templates = _check_templates(_as_list(disk_template, "disk_template"))
    lists = {"cpu": cpus, "ram": rams, "disk": disks, "disk_template": templates}
    total = math.prod(len(values) for values in lists.values())
    if total > MAX_FLAVORS_PER_CREATE:
        longest = max(lists, key=lambda key: len(lists[key]))
        raise Invalid(f"these lists make {total} flavors; at most {MAX_FLAVORS_PER_CREATE} at once", field=longest)
    if name is not None:
        check_name(name, "name")
    combos = list(itertools.product(cpus, rams, disks, templates))
    if name and len(combos) > 1:
        raise Invalid(f"a name is for one flavor; these lists make {len(combos)} (leave the name out)",
                      field="name")
    names = [name] if name else [flavor_name(*c) for c in combos]
    taken = list(session.scalars(select(Flavor.name).where(Flavor.name.in_(names))))
    if taken:
        raise Conflict(f"flavor name(s) already taken: {', '.join(sorted(taken))}", field="name")
    flavors = [Flavor(name=n, cpu=c, ram=r, disk=d, disk_template=t, deleted=False)
               for n, (c, r, d, t) in zip(names, combos)]
    session.add_all(flavors)
    session.flush()
    return flavors


def get_flavor(session: Session, flavor_id: int) -> Flavor:
    """Deleted flavors are still shown: existing servers keep them."""
    flavor = session.get(Flavor, flavor_id)
    if flavor is None:
        raise NotFound(f"flavor {flavor_id} not found")
    return flavor


def list_flavors(session: Session, *, deleted: bool | None = False, **filters: Any) -> list[Flavor]:
    query = select(Flavor).order_by(Flavor.id)
    if deleted is not None:
        query = query.where(Flavor.deleted.is_(bool(deleted)))
    for key in ("name", "cpu", "ram", "disk", "disk_template"):
        if filters.get(key) is not None:
            query = query.where(getattr(Flavor, key) == filters[key])
    return list(session.scalars(query))


def set_flavor_deleted(session: Session, flavor: Flavor, deleted: bool) -> Flavor:
    """Soft delete: servers keep the flavor, new servers and resizes cannot choose it."""
    flavor.deleted = bool(deleted)
    session.flush()
    return flavor


# -- images -----------------------------------------------------------------

def is_unregistered(image: Image) -> bool:
    return bool((image.properties or {}).get(UNREGISTERED))


def image_disk_format(image: Image) -> str:
    return (image.properties or {}).get("format", "diskdump")


def public_properties(image: Image) -> dict[str, Any]:
    return {k: v for k, v in (image.properties or {}).items() if k != UNREGISTERED}


def register_image(session: Session, *, owner: str, admin: bool, name: str, location: str,
                   os_providers: Collection[str], location_schemes: Collection[str],
                   disk_format: str = "diskdump", os: str = "snf-image+default", public: bool = False,
                   properties: dict[str, Any] | None = None) -> Image:
    """`os` must be one of `os_providers` and `location` use one of `location_schemes`
    (IMAGE_OS_PROVIDERS, IMAGE_LOCATION_SCHEMES), for administrators too: they are handed to
    Ganeti as `os_type` and `img_id`, and a public image reaches every user's VM."""
    check_name(name, "name")
    check_name(owner, "owner")
    if public and not admin:
        raise Invalid("only administrators may register public images", field="public")
    if disk_format not in DISK_FORMATS:
        raise Invalid(f"disk_format must be one of {', '.join(DISK_FORMATS)}", field="disk_format")
    check_os_provider(os, os_providers)
    check_location(location, location_schemes)
    properties = dict(check_properties({} if properties is None else properties))
    properties["format"] = disk_format
    image = Image(name=name, location=location, os=os, public=public, owner=owner, properties=properties)
    session.add(image)
    session.flush()
    return image


def visible(image: Image | None, user_id: str, admin: bool) -> bool:
    return image is not None and not is_unregistered(image) and (admin or image.public or image.owner == user_id)


def get_image(session: Session, image_id: int, *, user_id: str, admin: bool) -> Image:
    image = session.get(Image, image_id)
    if not visible(image, user_id, admin):
        raise NotFound(f"image {image_id} not found")
    return image


def list_images(session: Session, *, user_id: str, admin: bool, **filters: Any) -> list[Image]:
    """The public images and the caller's own (every image for an administrator)."""
    query = select(Image).order_by(Image.id)
    if not admin:
        query = query.where((Image.public.is_(True)) | (Image.owner == user_id))
    for key in ("name", "owner", "public", "os"):
        if filters.get(key) is not None:
            query = query.where(getattr(Image, key) == filters[key])
    return [image for image in session.scalars(query) if not is_unregistered(image)]


def unregister_image(session: Session, image: Image, *, user_id: str, admin: bool) -> None:
    """The owner or an administrator unregisters; servers built from it keep running."""
    if not (admin or image.owner == user_id):
        raise Forbidden(f"image {image.id} is not yours to unregister")
    used = session.scalar(select(func.count(Server.id)).where(Server.image_id == image.id))
    if used:
        image.properties = {**(image.properties or {}), UNREGISTERED: True}
        image.public = False
    else:
        session.delete(image)
    session.flush()
