"""RAPI passwords sealed at rest, on a real migrated SQLite database and a simulated cluster
over HTTP: what the column and the file hold, the key file, wrong keys, rotation, and
migration 0004 sealing the clear rows of an older database."""
from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner

from orchestrator import demo, migrate
from orchestrator.cli import Runtime, main
from orchestrator.credentials import Credentials, CredentialsError, is_sealed, key_file_keys, new_key
from orchestrator.db import get_engine
from orchestrator.models import Backend
from orchestrator.services import backends
from orchestrator.settings import Settings
from tests.conftest import context_for

SECRET = "sealed-rapi-secret-0xC0FFEE"


@pytest.fixture(scope="module")
def cluster():
    from ganeti_sim import SimFleet

    fleet = SimFleet(clusters=1, base_port=0, host="127.0.0.1", job_duration=0.1, user="rapi", password=SECRET,
                     name_format="sealed{n}.sim.local").start()
    yield fleet.clusters[0]
    fleet.stop()


def _context(db_url: str, tmp_path: Path, keys: tuple[str, ...] = ()):
    """A services context whose keys are `keys`, else the key file in `tmp_path`."""
    return context_for(db_url, credentials_keys=keys, credentials_key_file=tmp_path / "keys" / "credentials.key")


def _add(ctx, session, cluster) -> Backend:
    return backends.add(ctx, session, host="127.0.0.1", port=cluster.port, scheme="http", username="rapi",
                        password=SECRET, verify_tls=False)


def _stored(db_url: str, backend_id: int) -> str:
    with get_engine(db_url).connect() as connection:
        return connection.execute(sa.text("SELECT password FROM backends WHERE id = :id"), {"id": backend_id}).scalar()


def _file_bytes(db_url: str) -> bytes:
    """The SQLite file and its WAL, where committed pages wait for a checkpoint."""
    path = Path(db_url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in sorted(path.parent.glob(path.name + "*")))


def test_an_added_backend_is_stored_sealed_and_its_client_authenticates(db_url, session, tmp_path, cluster, caplog):
    caplog.set_level("DEBUG")
    ctx = _context(db_url, tmp_path)
    backend = _add(ctx, session, cluster)

    stored = _stored(db_url, backend.id)
    assert is_sealed(stored) and SECRET not in stored
    data = _file_bytes(db_url)
    assert SECRET.encode() not in data and stored.encode() in data  # the check reads what was committed
    key_file = tmp_path / "keys" / "credentials.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    assert ctx.cluster(backend).info()["name"] == cluster.name  # basic auth with the opened password
    # A changed connection (TLS flag) is checked with the stored password, opened for the check.
    backends.modify(ctx, session, backend.id, verify_tls=True)
    backends.modify(ctx, session, backend.id, password=SECRET)  # a given password is checked, then sealed
    resealed = _stored(db_url, backend.id)
    assert is_sealed(resealed) and resealed != stored
    assert ctx.cluster(session.get(Backend, backend.id)).info()["name"] == cluster.name
    assert SECRET not in caplog.text


def test_the_key_file_is_made_once_0600_whoever_comes_first(tmp_path):
    path = tmp_path / "var" / "credentials.key"
    barrier, found = threading.Barrier(8), []

    def first_use():
        barrier.wait()
        found.append(tuple(key_file_keys(path)))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(found)) == 1 and len(found[0]) == 1  # one key, the same for everyone
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["credentials.key"]  # no scratch file left
    Credentials(found[0]).seal("x")


def test_settings_give_the_keys_or_the_key_file_and_never_show_keys(tmp_path):
    key = new_key()
    settings = Settings.from_env({"ORCHESTRATOR_VAR_DIR": str(tmp_path), "CREDENTIALS_KEYS": f" {key} , {new_key()}"})
    assert settings.credentials_keys[0] == key and len(settings.credentials_keys) == 2
    assert settings.credentials_key_file == tmp_path.resolve() / "credentials.key"
    assert key not in repr(settings) and "credentials_keys=('***', '***')" in repr(settings)
    assert Credentials.from_settings(settings).source == "CREDENTIALS_KEYS"
    assert not (tmp_path / "credentials.key").exists()  # keys given: no key file made
    elsewhere = Settings.from_env({"CREDENTIALS_KEY_FILE": str(tmp_path / "etc" / "k")})
    assert elsewhere.credentials_key_file == tmp_path.resolve() / "etc" / "k"
    with pytest.raises(CredentialsError, match="key 1 of CREDENTIALS_KEYS is not a Fernet key") as bad:
        Credentials.from_settings(Settings.from_env({"CREDENTIALS_KEYS": "not-a-fernet-key"}))
    assert "not-a-fernet-key" not in str(bad.value)


def test_a_wrong_key_is_a_clear_error_naming_the_backend_not_the_value(db_url, session, tmp_path, cluster):
    backend = _add(_context(db_url, tmp_path, (new_key(),)), session, cluster)
    stored = _stored(db_url, backend.id)
    other = _context(db_url, tmp_path, (new_key(),))
    with pytest.raises(CredentialsError) as caught:
        other.cluster(backend)
    message = str(caught.value)
    assert f"backend {backend.id} ({cluster.name})" in message and "CREDENTIALS_KEYS" in message
    assert SECRET not in message and stored not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no InvalidToken chained

    # The CLI says it in one line, as every error an operator can fix.
    result = CliRunner().invoke(main, ["backend", "update-status", str(backend.id)], obj=Runtime(context=other))
    assert result.exit_code == 1 and result.output.startswith("error: ")
    assert "opens with no key" in result.output and SECRET not in result.output

    session.execute(sa.update(Backend).where(Backend.id == backend.id).values(password=SECRET))  # as before 0004
    session.commit()
    with pytest.raises(CredentialsError, match="not sealed; run `orchestrator db upgrade`") as unsealed:
        other.cluster(session.get(Backend, backend.id))
    assert SECRET not in str(unsealed.value)
    assert backends.rotate_credentials(other, session) == 1  # a clear value left behind is sealed too
    assert is_sealed(_stored(db_url, backend.id))
    assert other.cluster(session.get(Backend, backend.id)).info()["name"] == cluster.name


def test_rotation_reseals_with_the_new_key_and_old_values_read_until_then(db_url, session, tmp_path, cluster):
    old, new = new_key(), new_key()
    key_file = tmp_path / "keys" / "credentials.key"
    key_file.parent.mkdir()
    key_file.write_text(old + "\n")
    key_file.chmod(0o600)
    backend = _add(_context(db_url, tmp_path), session, cluster)
    before = _stored(db_url, backend.id)

    key_file.write_text(f"# newest first\n{new}\n{old}\n")  # 1. the new key first; 2. the processes restart
    both = _context(db_url, tmp_path)
    assert both.cluster(backend).info()["name"] == cluster.name  # the old value still reads
    with pytest.raises(CredentialsError):
        _context(db_url, tmp_path, (new,)).cluster(backend)  # not yet sealed with the new key alone

    result = CliRunner().invoke(main, ["backend", "rotate-credentials"], obj=Runtime(context=both))  # 3.
    assert result.exit_code == 0, result.output
    assert result.output.startswith("1 backend password(s) resealed with the first key of the key file")
    after = _stored(db_url, backend.id)
    assert is_sealed(after) and after != before and SECRET not in result.output

    session.expire_all()
    backend = session.get(Backend, backend.id)
    key_file.write_text(new + "\n")  # 4. the old key dropped
    assert _context(db_url, tmp_path).cluster(backend).info()["name"] == cluster.name
    with pytest.raises(CredentialsError):
        _context(db_url, tmp_path, (old,)).cluster(backend)


def test_demo_seed_seals_with_the_keys_of_its_environment(db_url, session, tmp_path, cluster):
    env = {"SIM_CLUSTERS": "1", "SIM_BASE_PORT": str(cluster.port), "SIM_RAPI_PASSWORD": SECRET,
           "ORCHESTRATOR_VAR_DIR": str(tmp_path)}
    assert demo.seed(session, env=env)["backends"] == ["cluster1.sim.local"]
    backend = session.scalars(sa.select(Backend)).one()
    assert is_sealed(_stored(db_url, backend.id))
    # What the stack's processes read from that same environment opens it.
    ctx = context_for(db_url, credentials_key_file=tmp_path.resolve() / "credentials.key")
    assert ctx.cluster(backend).info()["name"] == cluster.name


def test_migration_0004_seals_clear_rows_and_its_downgrade_opens_them(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate.upgrade(url, "0003")
    settings = Settings.from_env({"DATABASE_URL": url, "CREDENTIALS_KEYS": new_key()})
    credentials = Credentials.from_settings(settings)
    already = credentials.seal("sealed-by-hand")
    # Rows as an older orchestrator wrote them: only the columns the table had at 0003 (the
    # model's defaults for those), so columns added since do not stand in the way.
    old_table = sa.Table("backends", sa.MetaData(), autoload_with=get_engine(url))
    defaults = {c.name: c.default.arg(None) if callable(c.default.arg) else c.default.arg
                for c in Backend.__table__.columns if c.name in old_table.c and c.default is not None}
    with get_engine(url).begin() as connection:
        connection.execute(old_table.insert(), [
            {**defaults, "clustername": f"old{i}.sim.local", "host": "127.0.0.1", "port": 5080 + i,
             "username": "rapi", "password": password}
            for i, password in enumerate([SECRET, "ünïcode-latin1-secret", already])])
    config = migrate.alembic_config(url)
    config.attributes["settings"] = settings

    command.upgrade(config, "head")
    stored = [_stored(url, i) for i in (1, 2, 3)]
    assert all(is_sealed(value) for value in stored) and stored[2] == already  # a sealed value is left alone
    assert [credentials.unseal(value, "test") for value in stored] == [SECRET, "ünïcode-latin1-secret",
                                                                        "sealed-by-hand"]
    get_engine(url).dispose()  # as when the migrating process ends: the WAL is checkpointed and removed
    assert SECRET.encode() not in _file_bytes(url)  # secure_delete: nothing freed keeps the clear value
    columns = {c["name"]: c["type"] for c in sa.inspect(get_engine(url)).get_columns("backends")}
    assert isinstance(columns["password"], sa.Text)

    command.downgrade(config, "0003")
    assert [_stored(url, i) for i in (1, 2, 3)] == [SECRET, "ünïcode-latin1-secret", "sealed-by-hand"]
    command.upgrade(config, "head")  # and again: the same clear rows sealed again
    assert [credentials.unseal(_stored(url, i), "test") for i in (1, 2, 3)] == [SECRET, "ünïcode-latin1-secret",
                                                                                "sealed-by-hand"]
