"""`node-agent`: the commands run beside a Ganeti cluster (or run by it, for hooks)."""
from __future__ import annotations

import logging
import os
import re
import signal
import sys
import time
from pathlib import Path

import click
import requests

from .emitter import Emitter
from .jobs import JobTracker, read_job_file
from .spool import Spool

log = logging.getLogger("node_agent")

DEFAULT_SPOOL_DIR = os.environ.get("NODE_AGENT_SPOOL_DIR", "var/node-agent")


def _spool(spool_dir: str, name: str) -> Spool:
    return Spool(Path(spool_dir) / f"{name}.sqlite")


def _drain(spool: Spool, emitter: Emitter) -> None:
    try:
        spool.drain(emitter.send)
    except Exception as exc:  # the broker is away: events stay spooled, in order
        log.warning("broker unreachable (%s); %d events spooled", type(exc).__name__, spool.pending())


class _Stopper:
    def __init__(self) -> None:
        self.running = True
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def stop(self, *_args) -> None:
        self.running = False


@click.group()
def main() -> None:
    """Report what happens on a Ganeti cluster to the orchestrator, as Celery tasks."""
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")


def _common(fn):
    fn = click.option("--cluster", required=True, help="The cluster's name, carried in every event.")(fn)
    fn = click.option("--interval", default=0.5, show_default=True, help="Seconds between scans.")(fn)
    fn = click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, show_default=True)(fn)
    fn = click.option("--once", is_flag=True, help="Scan once, send, and exit.")(fn)
    return fn


@main.command("watch-queue")
@_common
@click.option("--queue-dir", required=True, type=click.Path(file_okay=False), help="Ganeti's job queue directory.")
def watch_queue(cluster: str, interval: float, spool_dir: str, once: bool, queue_dir: str) -> None:
    """Follow the job files of a Ganeti queue directory; one op_status event per change."""
    spool, emitter = _spool(spool_dir, f"queue-{cluster}"), Emitter()
    tracker = JobTracker(cluster, spool)
    seen_files: dict[str, tuple[float, int]] = {}
    stopper = _Stopper()
    queue = Path(queue_dir)
    while stopper.running:
        jobs = []
        current: dict[str, tuple[float, int]] = {}
        for path in queue.glob("job-*"):
            if not re.fullmatch(r"job-\d+", path.name):
                continue
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # archived between listing and reading
            current[path.name] = (stat.st_mtime, stat.st_size)
            if seen_files.get(path.name) == current[path.name]:
                continue
            job = read_job_file(path)
            if job is not None:
                jobs.append(job)
            else:
                current.pop(path.name)  # half-written: read it again next scan
        archived = {int(name[4:]) for name in seen_files.keys() - current.keys()}
        seen_files = current
        tracker.observe(jobs, complete=False)
        tracker.forget(archived)
        _drain(spool, emitter)
        if once:
            break
        time.sleep(interval)


@main.command("watch-rapi")
@_common
@click.option("--url", required=True, help="The RAPI base URL, e.g. https://cluster:5080")
@click.option("--user", envvar="RAPI_USER", required=True)
@click.option("--password", envvar="RAPI_PASSWORD", required=True)
@click.option("--insecure", is_flag=True, help="Do not verify the cluster's TLS certificate.")
def watch_rapi(cluster, interval, spool_dir, once, url, user, password, insecure) -> None:
    """Poll /2/jobs?bulk=1 and send one op_status event per opcode status change."""
    spool, emitter = _spool(spool_dir, f"rapi-{cluster}"), Emitter()
    tracker = JobTracker(cluster, spool)
    session = requests.Session()
    session.auth = (user, password)
    session.verify = not insecure
    stopper = _Stopper()
    while stopper.running:
        try:
            response = session.get(f"{url.rstrip('/')}/2/jobs", params={"bulk": 1}, timeout=10)
            response.raise_for_status()
            tracker.observe(response.json(), complete=True)
        except (requests.RequestException, ValueError) as exc:
            log.warning("cluster=%s cannot list jobs: %s", cluster, type(exc).__name__)
        _drain(spool, emitter)
        if once:
            break
        time.sleep(interval)


def nics_from_env(env: dict[str, str]) -> list[dict]:
    """Ganeti hook environment: GANETI_INSTANCE_NIC_COUNT and GANETI_INSTANCE_NICn_*."""
    count = int(env.get("GANETI_INSTANCE_NIC_COUNT", "0") or 0)
    nics = []
    for index in range(count):
        prefix = f"GANETI_INSTANCE_NIC{index}_"
        nics.append({
            "index": index,
            "ip": env.get(prefix + "IP") or None,
            "mac": env.get(prefix + "MAC") or None,
            "mode": env.get(prefix + "MODE") or None,
            "link": env.get(prefix + "LINK") or None,
            "network": env.get(prefix + "NETWORK_NAME") or env.get(prefix + "NETWORK") or None,
        })
    return nics


@main.command("hook")
@click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, show_default=True)
def hook(spool_dir: str) -> None:
    """Run by Ganeti as an instance hook: send the instance's NICs as a nic_info event."""
    env = dict(os.environ)
    instance = env.get("GANETI_INSTANCE_NAME")
    if not instance:
        click.echo("not run as a Ganeti instance hook: GANETI_INSTANCE_NAME is unset", err=True)
        sys.exit(1)
    event = {
        "cluster": env.get("GANETI_CLUSTER", ""),
        "instance": instance,
        "nics": nics_from_env(env),
        "hook_path": env.get("GANETI_HOOKS_PATH"),
        "phase": env.get("GANETI_HOOKS_PHASE"),
        "timestamp": time.time(),
    }
    spool = _spool(spool_dir, "hooks")
    spool.put("nic_info", event)
    _drain(spool, Emitter())


PROGRESS_RE = re.compile(r"(\d{1,3}(?:\.\d+)?)\s*%")


@main.command("progress")
@click.option("--instance", required=True)
@click.option("--cluster", default="")
@click.option("--spool-dir", default=DEFAULT_SPOOL_DIR, show_default=True)
def progress(instance: str, cluster: str, spool_dir: str) -> None:
    """Read OS-install progress lines on stdin (JSON as snf-image's monitor writes, or text
    with a percentage) and send build_progress events."""
    import json

    spool, emitter = _spool(spool_dir, f"progress-{instance}"), Emitter()
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        percentage, message = None, line
        try:
            data = json.loads(line)
            if isinstance(data, dict):
                percentage = data.get("progress", data.get("percentage"))
                message = data.get("messages") or data.get("message") or data.get("type") or line
        except ValueError:
            match = PROGRESS_RE.search(line)
            percentage = float(match.group(1)) if match else None
        if percentage is None:
            continue
        spool.put("build_progress", {"cluster": cluster, "instance": instance, "percentage": int(float(percentage)),
                                     "message": str(message), "timestamp": time.time()})
        _drain(spool, emitter)
    _drain(spool, emitter)


if __name__ == "__main__":  # pragma: no cover
    main()
