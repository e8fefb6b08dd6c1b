"""Screenshots of every console page (`make screenshots`): a throwaway SQLite database filled
with demo rows (bench/bench_console.py's `fill`: servers, operations of the last hours with
some FAILED and some past their deadline, a reconciliation run with findings), the web app
served over HTTP on 127.0.0.1, Debian's Chromium headless signed in with the admin token,
one PNG per page in docs/screenshots/ (the charts from the rollup folded once and three hours
of queue samples, as the beat leaves them). Needs no broker, no worker and no internet.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--width 1280]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = (("01-sign-in", "/login", False),
         ("02-needs-attention", "/", True),
         ("03-backends", "/backends", True),
         ("04-reconciliation", "/reconciliation", True),
         ("05-servers", "/servers?q=vm-1", True),
         ("06-server", "/servers/{server}", True),
         ("07-operation", "/operations/{operation}", True))
MAX_BYTES = 300 * 1024


def demo_charts_and_drain(ctx) -> None:
    """What the beat and an operator would have left: the rollup folded, three hours of
    queue samples, and the reason the drained backend is drained."""
    from bench.bench_console import record_samples
    from orchestrator.models import Backend
    from orchestrator.services import console

    with ctx.session() as session:
        console.fold_minutes(ctx, session)
        record_samples(ctx, session, hours=3)
        for backend in session.query(Backend).filter_by(drained=True):
            backend.drained_reason = "disk replacement on node3, ticket 4711"
        session.commit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=860)
    args = parser.parse_args()

    import logging

    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from api.app import create_app
    from bench.bench_console import fill
    from orchestrator.settings import Settings
    from tests.browser.conftest import start_chromium

    tmp = tempfile.mkdtemp(prefix="console-shots-")
    try:
        env = {"DATABASE_URL": f"sqlite:///{tmp}/console.db", "ORCHESTRATOR_VAR_DIR": tmp, "LOG_LEVEL": "WARNING",
               "CELERY_BROKER_URL": "redis://127.0.0.1:1/0"}  # no broker: the queue chart says so
        os.environ.update(ORCHESTRATOR_VAR_DIR=tmp)
        fill(env["DATABASE_URL"], servers=600, operations=6000, backends=3)
        settings = Settings.from_env(env)
        app = create_app(settings)
        demo_charts_and_drain(app.extensions["context"])
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_port}/console"
        driver = start_chromium(f"{tmp}/profile")
        try:
            driver.set_window_size(args.width, args.height)
            args.out.mkdir(parents=True, exist_ok=True)
            from orchestrator.db import get_sessionmaker
            from orchestrator.models import Operation
            with get_sessionmaker(env["DATABASE_URL"])() as session:
                failed = session.query(Operation).filter_by(status="FAILED").order_by(Operation.id.desc()).first()
            ids = {"server": failed.server_id, "operation": failed.id}
            signed = False
            for name, path, signed_in in PAGES:
                if signed_in and not signed:
                    driver.get(f"{base}/login")
                    driver.find_element("id", "token").send_keys(settings.admin_token)
                    driver.find_element("id", "sign-in").click()
                    WebDriverWait(driver, 20).until(lambda d: d.find_elements("id", "sign-out"))
                    signed = True
                driver.get(base + path.format(**ids))
                target = args.out / f"{name}.png"
                driver.save_screenshot(str(target))
                size = target.stat().st_size
                print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}: {size // 1024} KiB")
                if size > MAX_BYTES:
                    raise SystemExit(f"{target} is larger than {MAX_BYTES // 1024} KiB: use a smaller --height")
        finally:
            driver.quit()
            server.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
