"""`node-agent`: the commands run beside a Ganeti cluster (or run by it, for hooks)."""
from __future__ import annotations

import json
import logging
import os
import re
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

import click
import requests

from orchestrator.settings import Settings

from .emitter import Emitter
from .jobs import JobTracker, read_job_file
from .spool import Spool

log = logging.getLogger("node_agent")

DEFAULT_SPOOL_DIR = "var/node-agent"  # or NODE_AGENT_SPOOL_DIR
# Spools shared by every run of the hook and of the progress command; a watcher sweeps
# them too, so what a short-lived run could not send leaves once the broker is back.
SHARED_SPOOLS = ("hooks", "progress")
JOB_FILE = re.compile(r"job-(\d+)")


def _spool(spool_dir: str, name: str) -> Spool:
    return Spool(Path(spool_dir) / f"{name}.sqlite")


class _Stopper:
    def __init__(self) -> None:
        self.running = True
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def stop(self, signum=None, *_args) -> None:
        if self.running:
            log.info("signal %s: stopping after the current step", signum)
        self.running = False


class Sender:
    """Drains spools to the broker; while the broker is away, tries again with backoff
    (the scan goes on spooling meanwhile), and says once that it is away and once that it
    is back."""

    def __init__(self, emitter: Emitter, spools: list[Spool], keep_going=lambda: True, max_backoff: float = 5.0,
                 batch: int = 50):
        self.emitter, self.spools, self.keep_going = emitter, spools, keep_going
        self.batch = batch
        self.max_backoff = max_backoff
        self.failures = 0
        self.next_try = 0.0

    def flush(self, force: bool = False) -> bool:
        """True when every spool is empty."""
        if not force and time.monotonic() < self.next_try:
            return False
        sent = 0
        try:
            for spool in self.spools:
                sent += spool.drain_batches(self.emitter.send_many, self.keep_going, self.batch)
        except Exception as exc:  # the broker is away: events stay spooled, in order
            self.failures += 1
            self.next_try = time.monotonic() + min(self.max_backoff, 0.25 * 2 ** self.failures)
            if self.failures == 1:
                log.warning("broker unreachable (%s: %s); %d events spooled", type(exc).__name__, exc,
                            self.pending())
            return False
        if self.failures:
            log.warning("broker reachable again after %d failed attempts; sent %d spooled events",
                        self.failures, sent)
        self.failures, self.next_try = 0, 0.0
        return True

    def pending(self) -> int:
        return sum(s.pending() for s in self.spools)


@click.group()
def main() -> None:
    """Report what happens on a Ganeti cluster to the orchestrator, as Celery tasks."""
    logging.basicConfig(level=Settings.from_env().log_level,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    for noisy in ("celery", "kombu", "amqp"):  # a broker outage is reported once, by us
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _common(fn):
    fn = click.option("--cluster", required=True, help="The cluster's name, carried in every event.")(fn)
    fn = click.option("--interval", default=0.5, show_default=True, help="Seconds between scans.")(fn)
    fn = click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, envvar="NODE_AGENT_SPOOL_DIR", show_default=True)(fn)
    fn = click.option("--once", is_flag=True, help="Scan once, send, and exit.")(fn)
    fn = click.option("--batch", default=50, show_default=True, envvar="NODE_AGENT_BATCH",
                      type=click.IntRange(min=1),
                      help="Most events sent in one message when several wait (1: one task per event).")(fn)
    return fn


def _archived_job(queue: Path, job_id: int) -> dict[str, Any] | None:
    """Ganeti moves finished jobs to queue/archive/<n>/job-<id>: read it there once."""
    for path in queue.glob(f"archive/*/job-{job_id}"):
        job = read_job_file(path)
        if job is not None:
            return job
    return None


class QueueWatcher:
    """Follows the job files of one queue directory; a file is read again only when it
    was replaced (Ganeti writes a new file and renames it over the old one)."""

    def __init__(self, tracker: JobTracker, queue: Path):
        self.tracker, self.queue = tracker, queue
        self.signatures: dict[str, tuple[int, int, int]] = {}
        self.missing_logged = False

    def scan(self) -> int:
        if not self.queue.is_dir():
            if not self.missing_logged:
                log.warning("queue directory %s does not exist (yet); waiting for it", self.queue)
                self.missing_logged = True
            return 0
        self.missing_logged = False
        jobs, present, signatures = [], set(), {}
        with os.scandir(self.queue) as entries:
            for entry in entries:
                match = JOB_FILE.fullmatch(entry.name)
                if match is None:
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue  # archived between listing and reading
                present.add(int(match.group(1)))
                signature = (st.st_ino, st.st_mtime_ns, st.st_size)
                if self.signatures.get(entry.name) == signature:
                    signatures[entry.name] = signature
                    continue
                job = read_job_file(Path(entry.path))
                if job is not None:  # else half-written: read it again next scan
                    jobs.append(job)
                    signatures[entry.name] = signature
        self.signatures = signatures
        gone = self.tracker.known_jobs() - present
        jobs += [job for job in (_archived_job(self.queue, j) for j in sorted(gone)) if job is not None]
        queued = self.tracker.observe(jobs, complete=False)
        self.tracker.forget(gone)
        return queued


@main.command("watch-queue")
@_common
@click.option("--queue-dir", required=True, type=click.Path(file_okay=False), help="Ganeti's job queue directory.")
@click.option("--sweep/--no-sweep", default=True, show_default=True,
              help="Also send what hook and progress runs left in the shared spools.")
def watch_queue(cluster: str, interval: float, spool_dir: str, once: bool, batch: int, queue_dir: str,
                sweep: bool) -> None:
    """Follow the job files of a Ganeti queue directory; one op_status event per change."""
    stopper = _Stopper()
    spool = _spool(spool_dir, f"queue-{cluster}")
    spools = [spool] + ([_spool(spool_dir, name) for name in SHARED_SPOOLS] if sweep else [])
    sender = Sender(Emitter(), spools, keep_going=lambda: stopper.running, batch=batch)
    watcher = QueueWatcher(JobTracker(cluster, spool), Path(queue_dir))
    log.info("cluster=%s watching %s (%d events spooled from before)", cluster, queue_dir, spool.pending())
    while stopper.running:
        watcher.scan()
        sender.flush(force=once)
        if once:
            break
        time.sleep(interval)
    log.info("cluster=%s stopping; %d events left in the spool", cluster, sender.pending())


@main.command("watch-rapi")
@_common
@click.option("--url", required=True, help="The RAPI base URL, e.g. https://cluster:5080")
@click.option("--user", envvar="RAPI_USER", required=True)
@click.option("--password", envvar="RAPI_PASSWORD", required=True)
@click.option("--insecure", is_flag=True, help="Do not verify the cluster's TLS certificate.")
def watch_rapi(cluster, interval, spool_dir, once, batch, url, user, password, insecure) -> None:
    """Poll /2/jobs?bulk=1 and send one op_status event per opcode status change."""
    stopper = _Stopper()
    spool = _spool(spool_dir, f"rapi-{cluster}")
    sender = Sender(Emitter(), [spool], keep_going=lambda: stopper.running, batch=batch)
    tracker = JobTracker(cluster, spool)
    session = requests.Session()
    session.auth = (user, password)
    session.verify = not insecure
    failing = False
    while stopper.running:
        try:
            response = session.get(f"{url.rstrip('/')}/2/jobs", params={"bulk": 1}, timeout=10)
            response.raise_for_status()
            jobs = response.json()
            if not isinstance(jobs, list):
                raise ValueError("not a job list")
            tracker.observe(jobs, complete=True)
            if failing:
                log.warning("cluster=%s answers again", cluster)
            failing = False
        except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
            if not failing:
                log.warning("cluster=%s cannot list jobs: %s", cluster, type(exc).__name__)
            failing = True
        sender.flush(force=once)
        if once:
            break
        time.sleep(interval)


def nics_from_env(env: dict[str, str], prefix: str = "GANETI_") -> list[dict]:
    """Ganeti hook environment: <prefix>INSTANCE_NIC_COUNT and <prefix>INSTANCE_NICn_*."""
    count = int(env.get(f"{prefix}INSTANCE_NIC_COUNT", "0") or 0)
    nics = []
    for index in range(count):
        p = f"{prefix}INSTANCE_NIC{index}_"
        nics.append({
            "index": index,
            "ip": env.get(p + "IP") or None,
            "mac": env.get(p + "MAC") or None,
            "mode": env.get(p + "MODE") or None,
            "link": env.get(p + "LINK") or None,
            "network": env.get(p + "NETWORK_NAME") or env.get(p + "NETWORK") or None,
            "name": env.get(p + "NAME") or None,  # the orchestrator's port: <prefix>nic-<id>
        })
    return nics


def hook_event(env: dict[str, str], now: float | None = None) -> dict[str, Any] | None:
    """The nic_info event of a post hook, or None when there is nothing to report (a
    pre hook: nothing happened yet; a removal: the instance has no NICs any more)."""
    phase = (env.get("GANETI_HOOKS_PHASE") or "post").lower()
    hook_path = env.get("GANETI_HOOKS_PATH")
    instance = env.get("GANETI_POST_INSTANCE_NAME") or env.get("GANETI_INSTANCE_NAME")
    if phase != "post" or hook_path == "instance-remove" or not instance:
        return None
    # Hooks version 2 describes the state after the opcode with GANETI_POST_*.
    prefix = "GANETI_POST_" if "GANETI_POST_INSTANCE_NIC_COUNT" in env else "GANETI_"
    return {
        "cluster": env.get("GANETI_CLUSTER", ""),
        "instance": instance,
        "nics": nics_from_env(env, prefix),
        "hook_path": hook_path,
        "opcode": env.get("GANETI_OP_CODE"),
        "timestamp": time.time() if now is None else now,
    }


@main.command("hook")
@click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, envvar="NODE_AGENT_SPOOL_DIR", show_default=True)
def hook(spool_dir: str) -> None:
    """Run by Ganeti as an instance post hook: send the instance's NICs as a nic_info event.

    Never fails the hook: with the broker away the event stays in the shared spool and a
    watcher sends it later."""
    env = dict(os.environ)
    if not (env.get("GANETI_INSTANCE_NAME") or env.get("GANETI_POST_INSTANCE_NAME")):
        click.echo("not run as a Ganeti instance hook: GANETI_INSTANCE_NAME is unset", err=True)
        sys.exit(1)
    event = hook_event(env)
    if event is None:
        return
    spool = _spool(spool_dir, "hooks")
    spool.put("nic_info", event)
    Sender(Emitter(retries=0), [spool]).flush()


PROGRESS_RE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


def parse_progress(line: str) -> tuple[float | None, str]:
    """(percentage or None, message) from one line of snf-image's monitor: JSON such as
    {"type": "image-copy-progress", "position": .., "total": .., "progress": 42.0}, or text
    with a percentage."""
    line = line.strip()
    try:
        data = json.loads(line)
    except ValueError:
        match = PROGRESS_RE.search(line)
        return (float(match.group(1)) if match else None), line
    if not isinstance(data, dict):
        return None, line
    percentage = data.get("progress", data.get("percentage"))
    if percentage is None and data.get("type") == "image-copy-progress":
        position, total = data.get("position"), data.get("total")
        if isinstance(position, (int, float)) and isinstance(total, (int, float)) and total > 0:
            percentage = 100.0 * position / total
    messages = data.get("messages") or data.get("message") or data.get("type") or line
    if isinstance(messages, list):
        messages = " ".join(str(m) for m in messages)
    try:
        percentage = None if percentage is None else float(percentage)
    except (TypeError, ValueError):
        percentage = None
    return percentage, str(messages)


@main.command("progress")
@click.option("--instance", required=True)
@click.option("--cluster", default=lambda: os.environ.get("GANETI_CLUSTER", ""))
@click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, envvar="NODE_AGENT_SPOOL_DIR", show_default=True)
def progress(instance: str, cluster: str, spool_dir: str) -> None:
    """Read OS-install progress lines on stdin (JSON as snf-image's monitor writes, or text
    with a percentage) and send build_progress events, one per new percentage."""
    spool = _spool(spool_dir, "progress")
    sender = Sender(Emitter(retries=0), [spool])
    last = None
    for line in sys.stdin:
        if not line.strip():
            continue
        percentage, message = parse_progress(line)
        if percentage is None:
            continue
        value = max(0, min(100, int(percentage)))
        if value == last:
            continue
        last = value
        spool.put("build_progress", {"cluster": cluster, "instance": instance, "percentage": value,
                                     "message": message, "timestamp": time.time()})
        sender.flush()
    sender.flush(force=True)


HOOK_SCRIPT = """#!/bin/sh
# Written by `node-agent install-hooks`. Ganeti runs it after an instance operation with
# its GANETI_* environment (and little else, hence the settings below).
export CELERY_BROKER_URL={broker}
export NODE_AGENT_SPOOL_DIR={spool}
export RABBITMQ_QUEUE_TYPE={queue_type}
exec {python} -m node_agent hook
"""


@main.command("install-hooks")
@click.option("--hooks-dir", required=True, type=click.Path(file_okay=False),
              help="Ganeti's hooks directory (/etc/ganeti/hooks on a real master).")
@click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, envvar="NODE_AGENT_SPOOL_DIR", show_default=True)
@click.option("--hook-path", "hook_paths", multiple=True, default=("instance-add", "instance-modify"),
              show_default=True, help="Hooks paths after which NICs are reported (repeatable).")
@click.option("--name", default="50-node-agent", show_default=True)
def install_hooks(hooks_dir: str, spool_dir: str, hook_paths: tuple[str, ...], name: str) -> None:
    """Install the nic_info post hook (a small script) for the given hooks paths."""
    install(Path(hooks_dir), spool_dir, hook_paths, name)


def install(hooks_dir: Path, spool_dir: str, hook_paths=("instance-add", "instance-modify"),
            name: str = "50-node-agent", broker: str | None = None) -> list[Path]:
    settings = Settings.from_env()  # the workers' variables and defaults
    text = HOOK_SCRIPT.format(broker=shlex.quote(broker or settings.broker_url),
                              spool=shlex.quote(str(Path(spool_dir).resolve())), python=shlex.quote(sys.executable),
                              queue_type=shlex.quote(settings.rabbitmq_queue_type))
    written = []
    for hook_path in hook_paths:
        directory = hooks_dir / f"{hook_path}-post.d"
        directory.mkdir(parents=True, exist_ok=True)
        target, tmp = directory / name, directory / f".{name}.tmp"
        tmp.write_text(text)
        tmp.chmod(0o700)  # it carries the broker URL
        os.replace(tmp, target)
        written.append(target)
    log.info("hook %s installed for %s under %s", name, ", ".join(hook_paths), hooks_dir)
    return written


if __name__ == "__main__":  # pragma: no cover
    main()
