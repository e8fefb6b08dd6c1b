"""The console's pages and its JSON actions."""
from __future__ import annotations

import datetime as dt
import secrets
import time

from flask import (Blueprint, abort, current_app, g, jsonify, redirect, render_template, request, session,
                   url_for)
from werkzeug.exceptions import HTTPException

from orchestrator.auth import Principal
from orchestrator.errors import DomainError
from orchestrator.models import Backend
from orchestrator.services import backends, console, operations, reconciliation, servers, tokens
from orchestrator.state import api_status

from . import charts

blp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates", static_folder="static",
                static_url_path="/static")

PUBLIC = {"console.login", "console.static"}


def _ctx():
    return current_app.extensions["context"]


def _wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json" or \
        request.headers.get("X-Requested-With") == "fetch"


# -- sessions and CSRF ------------------------------------------------------------------------

@blp.before_request
def _signed_in() -> object:
    if request.endpoint in PUBLIC:
        return None
    user = session.get("user")
    expires = session.get("expires", 0)
    if not user or expires < time.time():
        expired = bool(user)
        session.clear()
        if _wants_json() or request.method == "POST":
            return _refuse(401, "your session has expired: sign in again" if expired else "sign in first")
        return redirect(url_for("console.login", next=request.path, **({"expired": 1} if expired else {})))
    # The session names the token's row: a revoked or demoted token ends its sessions.
    principal = _principal_of(session.get("token_id"), user)
    if principal is None:
        session.clear()
        return _refuse(401, "the token this session was opened with is revoked or no longer an administrator's")
    g.principal = principal
    if request.method == "POST":
        sent = request.headers.get("X-CSRF-Token") or request.form.get("csrf_token") or ""
        if not secrets.compare_digest(str(sent), str(session.get("csrf", ""))):
            return _refuse(403, "this form's CSRF token is missing or wrong: reload the page and try again")
    return None


def _principal_of(token_id, user: str) -> Principal | None:
    from orchestrator.auth import is_live
    from orchestrator.models import Token

    if token_id is None:  # the deployment's ORCHESTRATOR_ADMIN_TOKEN: no row
        return Principal(user_id=user, admin=True)
    row = g.db.get(Token, token_id)
    if not is_live(g.db, row) or not row.admin:
        return None
    return Principal(user_id=row.user_id, admin=True)


def _refuse(status: int, message: str):
    if _wants_json():
        return jsonify(ok=False, status=status, message=message), status
    return render_template("console/error.html", status=status, message=message), status


@blp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    g.db.rollback()
    return _refuse(exc.status, exc.message)


@blp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return _refuse(exc.code or 500, exc.description or exc.name)


@blp.errorhandler(Exception)
def _unexpected(exc: Exception):
    current_app.logger.exception("console: unexpected error on %s", request.path)
    try:
        g.db.rollback()
    except Exception:  # noqa: BLE001 - the page must still render
        pass
    return _refuse(500, "something went wrong on the server; the error was logged")


@blp.app_template_global()
def csrf_token() -> str:
    return session.get("csrf", "")


@blp.app_template_global()
def flower_link(op) -> str:
    """Flower's page of the task running (or last run) the operation's step; a search by the
    operation id for operations whose chain ids are not recorded."""
    flower = current_app.config["CONSOLE_FLOWER_URL"]
    task_id = console.current_task_id(op)
    return f"{flower}/task/{task_id}" if task_id else f"{flower}/tasks?search={op.id}"


@blp.app_template_filter("age")
def _age(when) -> str:
    if when is None:
        return ""
    from orchestrator.models import utcnow

    seconds = int((utcnow() - when).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{max(seconds, 0)} s"


@blp.route("/login", methods=["GET", "POST"])
def login():
    message = None
    if request.args.get("expired") == "1":
        message = "your session has expired: sign in again"
    if request.method == "POST":
        # A sign-in form of our own (its token is in the cookie set when the form was shown):
        # another site cannot sign a browser in with its own token (login CSRF).
        if not session.get("csrf") or not secrets.compare_digest(str(request.form.get("csrf_token", "")),
                                                                 str(session["csrf"])):
            return render_template("console/login.html", message="this sign-in form is stale or forged: "
                                   "sign in again from this page"), 403
        token = (request.form.get("token") or "").strip()
        principal = tokens.authenticate(_ctx(), g.db, token) if token else None
        if principal is None:
            return render_template("console/login.html", message="invalid or revoked token"), 401
        if not principal.admin:
            return render_template("console/login.html", message="administrators only: this token is a user's"), 403
        session.clear()
        session.permanent = True
        session.update(user=principal.user_id, token_id=_token_id(token), csrf=secrets.token_urlsafe(32),
                       expires=time.time() + current_app.config["CONSOLE_SESSION_TTL_S"])
        target = request.args.get("next") or ""
        return redirect(target if target.startswith("/console/") else url_for("console.attention"))
    if not session.get("csrf") or session.get("user"):
        session.clear()
        session["csrf"] = secrets.token_urlsafe(32)
    return render_template("console/login.html", message=message)


def _token_id(token: str) -> int | None:
    from sqlalchemy import select

    from orchestrator.auth import hash_token
    from orchestrator.models import Token

    return g.db.scalar(select(Token.id).where(Token.token_hash == hash_token(token)))


@blp.route("/logout", methods=["POST"])
def logout():
    session.clear()
    return redirect(url_for("console.login"))


def _int_arg(name: str, default=None):
    value = request.values.get(name, "")
    try:
        return int(value) if value != "" else default
    except ValueError:
        abort(422, description=f"{name} must be a number")


def _paging(default_limit: int = 50) -> tuple[int, int]:
    return _int_arg("offset", 0), _int_arg("limit", default_limit)


# -- needs attention ----------------------------------------------------------------------------

@blp.route("/")
def attention():
    ctx = _ctx()
    offset, limit = _paging()
    kind = request.args.get("kind") or None
    backend_id = _int_arg("backend_id")
    status = request.args.get("status") or None
    page = console.needs_attention(ctx, g.db, kind=kind, backend_id=backend_id, status=status, offset=offset,
                                   limit=limit)
    start, minutes = console.operations_per_minute(ctx, g.db, hours=console.CHART_HOURS)
    queues = console.queue_lengths(ctx)
    end = start + dt.timedelta(minutes=len(minutes))
    history = charts.queue_history_chart(console.queue_history(ctx, g.db, hours=console.CHART_HOURS), start, end)
    return render_template("console/attention.html", page=page, kind=kind, backend_id=backend_id, status=status,
                           why=lambda op: console.why_attention(ctx, op),
                           flower=current_app.config["CONSOLE_FLOWER_URL"],
                           ops_chart=charts.operations_chart(start, minutes),
                           queue_chart=charts.queue_chart(queues) if queues is not None else None,
                           queue_history=history,
                           backends=g.db.query(Backend.id, Backend.clustername).order_by(Backend.id).all())


def op_json(op) -> dict:
    return {"id": op.id, "kind": op.kind, "status": op.status, "step": op.step, "attempts": op.attempts,
            "error": op.error or "", "job_id": op.job_id, "job_status": op.job_status or ""}


@blp.route("/operations/<int:op_id>/retry", methods=["POST"])
def retry(op_id: int):
    op = operations.retry(_ctx(), g.db, g.principal, op_id)
    return jsonify(ok=True, message=f"operation {op.id} retried: {op.status} at {op.step}", operation=op_json(op))


@blp.route("/operations/<int:op_id>/cancel", methods=["POST"])
def cancel(op_id: int):
    op = operations.cancel(_ctx(), g.db, g.principal, op_id)
    return jsonify(ok=True, message=f"operation {op.id} canceled", operation=op_json(op))


@blp.route("/operations/<int:op_id>")
def operation(op_id: int):
    op = operations.get(_ctx(), g.db, g.principal, op_id)
    if _wants_json():
        return jsonify(ok=True, operation=op_json(op))
    return render_template("console/operation.html", op=op, flower=current_app.config["CONSOLE_FLOWER_URL"])


@blp.route("/operations/retry-all", methods=["POST"])
def retry_all():
    kind = request.values.get("kind") or None
    backend_id = _int_arg("backend_id")
    if kind is None and backend_id is None:
        abort(422, description="choose a kind or a backend: retry-all never retries everything at once")
    result = console.retry_all(_ctx(), g.db, g.principal, kind=kind, backend_id=backend_id)
    message = f"{len(result.retried)} operation(s) retried"
    if result.refused:
        message += f", {len(result.refused)} refused: " + "; ".join(f"{k}: {v}" for k, v in result.refused.items())
    return jsonify(ok=True, message=message, retried=result.retried, refused=result.refused)


# -- backends ---------------------------------------------------------------------------------------

@blp.route("/backends")
def backends_page():
    from orchestrator.services import networks

    rows = console.backends_with_use(_ctx(), g.db)
    pools = networks.list_pools(_ctx(), g.db, g.principal)
    return render_template("console/backends.html", rows=rows, bars=charts.capacity_bars,
                           pools=pools, pool_use=charts.pool_use, networks=_network_use())


def _network_use():
    from sqlalchemy import func, select

    from orchestrator.models import Network, Port

    counts = dict(g.db.execute(select(Port.network_id, func.count()).where(Port.deleted.is_(False))
                               .group_by(Port.network_id)).all())
    nets = g.db.scalars(select(Network).where(Network.deleted.is_(False)).order_by(Network.id).limit(200)).all()
    return [(n, counts.get(n.id, 0)) for n in nets]


def backend_json(b: Backend) -> dict:
    return {"id": b.id, "drained": b.drained, "offline": b.offline, "offline_reason": b.offline_reason or "",
            "drained_reason": b.drained_reason or "",
            "stats_updated_at": b.stats_updated_at.isoformat(timespec="seconds") if b.stats_updated_at else "",
            "mfree": b.mfree, "mtotal": b.mtotal, "dfree": b.dfree, "dtotal": b.dtotal, "ctotal": b.ctotal}


@blp.route("/backends/<int:backend_id>/<any(drain, undrain):verb>", methods=["POST"])
def drain(backend_id: int, verb: str):
    reason = (request.values.get("drained_reason") or "").strip() or None if verb == "drain" else None
    backend = backends.modify(_ctx(), g.db, backend_id, drained=(verb == "drain"), drained_reason=reason)
    message = f"backend {backend.clustername} {'drained' if backend.drained else 'undrained'}"
    if backend.drained_reason:
        message += f": {backend.drained_reason}"
    return jsonify(ok=True, message=message, backend=backend_json(backend))


@blp.route("/backends/<int:backend_id>/refresh", methods=["POST"])
def refresh(backend_id: int):
    backend, = backends.refresh(_ctx(), g.db, backend_id)
    return jsonify(ok=True, message=f"backend {backend.clustername} refreshed", backend=backend_json(backend))


# -- reconciliation -----------------------------------------------------------------------------------

@blp.route("/reconciliation")
def reconciliation_page():
    runs = console.latest_runs(_ctx(), g.db, limit=10)
    run_id = _int_arg("run")
    chosen = run_id or (runs[0][0].id if runs else None)
    offset, limit = _paging(100)
    findings = console.run_findings(_ctx(), g.db, chosen, offset=offset, limit=limit) if chosen else None
    return render_template("console/reconciliation.html", runs=runs, chosen=chosen, findings=findings)


SERVER_FIX_KINDS = ("stale", "orphan", "state", "flavor", "nics", "build")


@blp.route("/reconciliation/fix", methods=["POST"])
def reconciliation_fix():
    """Apply the fix of one kind, on one backend (a finding's) or on all: a new run with
    that fix on, as `orchestrator reconcile servers --backend ID --fix-KIND` does."""
    kind = request.values.get("kind") or ""
    backend_id = _int_arg("backend_id")
    if kind not in SERVER_FIX_KINDS:
        abort(422, description=f"no fix for the kind {kind!r}: one of {', '.join(SERVER_FIX_KINDS)}")
    run = reconciliation.run(_ctx(), g.db, fixes=frozenset({kind}), backend_id=backend_id, trigger="console")
    fixed = sum(1 for f in run.findings if f.kind == kind and f.fixed) if hasattr(run, "findings") else None
    return jsonify(ok=True, run_id=run.id, fixed=fixed,
                   message=f"run {run.id}: {fixed} {kind} finding(s) fixed" if fixed is not None
                   else f"run {run.id} applied the {kind} fix")


@blp.route("/reconciliation/findings/<int:finding_id>/fix", methods=["POST"])
def reconciliation_fix_one(finding_id: int):
    """Apply one finding's fix alone: its server checked again, only its kind fixed."""
    run, again = reconciliation.fix_finding(_ctx(), g.db, finding_id, trigger="console")
    if again is not None and again.fixed:
        return jsonify(ok=True, run_id=run.id, fixed=1, finding=finding_id,
                       message=f"finding {finding_id} fixed in run {run.id}: {again.fix}")
    if run.backends_skipped:
        why = "; ".join(f"{k}: {v}" for k, v in run.backends_skipped.items())
        return jsonify(ok=False, run_id=run.id, message=f"run {run.id} could not check the backend ({why})"), 409
    if again is None:
        return jsonify(ok=True, run_id=run.id, fixed=0, finding=finding_id,
                       message=f"run {run.id}: finding {finding_id} is no longer there, nothing to fix")
    return jsonify(ok=False, run_id=run.id, message=f"run {run.id}: not fixed: {again.fix or 'left alone'}"), 409


# -- servers ------------------------------------------------------------------------------------------

@blp.route("/servers")
def servers_page():
    offset, limit = _paging()
    args = dict(q=request.args.get("q") or None, user_id=request.args.get("user_id") or None,
                backend_id=_int_arg("backend_id"), status=request.args.get("status") or None)
    page = console.search_servers(_ctx(), g.db, offset=offset, limit=limit, **args)
    return render_template("console/servers.html", page=page, args=args, status_of=api_status)


@blp.route("/servers/<int:server_id>")
def server_page(server_id: int):
    server = servers.get(_ctx(), g.db, g.principal, server_id)
    offset, limit = _paging(20)
    ops = console.server_operations(_ctx(), g.db, server_id, offset=offset, limit=limit)
    return render_template("console/server.html", server=server, status=api_status(server), ops=ops,
                           flower=current_app.config["CONSOLE_FLOWER_URL"],
                           streams=bool(_ctx().settings.streams_url))


ACTIONS = ("start", "shutdown", "reboot", "destroy", "suspend", "unsuspend")


@blp.route("/servers/<int:server_id>/action", methods=["POST"])
def server_action(server_id: int):
    action = request.values.get("action") or ""
    if action not in ACTIONS:
        abort(422, description=f"unknown action {action!r}")
    params = {"type": "soft"} if action == "reboot" else {}
    op = servers.act(_ctx(), g.db, g.principal, server_id, action, **params)
    return jsonify(ok=True, message=f"{action}: operation {op.id} {op.status}", operation=op_json(op))


@blp.route("/servers/<int:server_id>/stream-ticket", methods=["POST"])
def stream_ticket(server_id: int):
    """The URL of the server's live stream on the streams process, with a ticket good for
    one minute in place of the bearer token EventSource cannot send; 404 without a streams
    process (the page then re-reads the state instead)."""
    from orchestrator.services import streams

    ctx = _ctx()
    if not ctx.settings.streams_url:
        abort(404, description="no streams process is configured (STREAMS_URL)")
    servers.get(ctx, g.db, g.principal, server_id)
    ticket = streams.issue_ticket(ctx, g.principal, session.get("token_id"), server_id)
    return jsonify(ok=True, url=f"{ctx.settings.streams_url}/api/v1/servers/{server_id}/events?"
                                f"until=deleted&ticket={ticket}")


@blp.route("/servers/<int:server_id>/state")
def server_state(server_id: int):
    servers.get(_ctx(), g.db, g.principal, server_id)
    state, moving = servers.live_state(_ctx(), g.db, server_id)
    return jsonify(ok=True, state=state, moving=moving)


def _streams_origin() -> str:
    """The streams process's origin, which the server page's EventSource connects to."""
    from urllib.parse import urlsplit

    url = _ctx().settings.streams_url
    if not url:
        return ""
    parts = urlsplit(url)
    return f" {parts.scheme}://{parts.netloc}"


@blp.after_request
def _no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Content-Security-Policy",
                                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                f"connect-src 'self'{_streams_origin()}")
    return response
