"""The live event streams, served by their own asynchronous process (Procfile `streams`).

`GET /api/v1/servers/{id}/events` as the API documents it, but each open stream costs a
coroutine and a socket, not one of the API's request threads: thousands can stay open while
the API answers as fast as with none. One Redis subscription per process hears which servers
a commit changed (orchestrator.changes); only their streams re-read the database, in a small
thread pool, through the same services as the API (authentication, authorization, state).
A stream also re-reads every STREAM_RECHECK_S, so a missed announcement only delays it.

    python -m api.streams [--host 127.0.0.1] [--port 8001]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import redis.asyncio as aioredis
from aiohttp import web

from orchestrator import changes
from orchestrator.errors import DomainError
from orchestrator.logs import setup_logging
from orchestrator.services import streams
from orchestrator.services.context import Context, build_context
from orchestrator.settings import Settings

from .errors import error_body

log = logging.getLogger(__name__)

CONTEXT = web.AppKey("context", Context)
HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Hub:
    """Who watches which server in this process, woken by the announcements on Redis."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.watchers: dict[int, set[asyncio.Event]] = defaultdict(set)
        self.per_user: dict[str, int] = defaultdict(int)
        self.open = 0
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="streams-db")
        self.listening = False

    def watch(self, server_id: int) -> asyncio.Event:
        wake = asyncio.Event()
        self.watchers[server_id].add(wake)
        return wake

    def unwatch(self, server_id: int, wake: asyncio.Event) -> None:
        self.watchers[server_id].discard(wake)
        if not self.watchers[server_id]:
            del self.watchers[server_id]

    def wake(self, server_ids) -> None:
        for server_id in server_ids:
            for wake in self.watchers.get(server_id, ()):
                wake.set()

    async def listen(self) -> None:
        """Forever: subscribe, wake the watchers of each server announced; after a lost
        connection, wake every stream (it re-reads) and subscribe again."""
        while True:
            client = aioredis.from_url(self.settings.redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(changes.CHANNEL)
                    self.listening = True
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            try:
                                self.wake([int(message["data"])])
                            except ValueError:
                                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: streams still re-read on their own
                log.warning("streams: lost the change announcements (%s: %s); subscribing again",
                            type(exc).__name__, exc)
            finally:
                self.listening = False
                await client.aclose()
            self.wake(list(self.watchers))
            await asyncio.sleep(1.0)


HUB = web.AppKey("hub", Hub)


def _error(code: int, message: str, errors: dict | None = None, headers: dict | None = None) -> web.Response:
    return web.json_response(error_body(code, message, errors), status=code, headers=headers)


async def server_events(request: web.Request) -> web.StreamResponse:
    ctx, hub = request.app[CONTEXT], request.app[HUB]
    settings = ctx.settings
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    # A browser's EventSource sends no header: a short-lived ticket (services.streams.issue_ticket,
    # which the console hands its signed-in page) stands in for the bearer token. It is no
    # ambient credential (no cookie), so any origin may read the stream it opens.
    ticket = request.query.get("ticket", "") if not token.strip() else ""
    cors = {"Access-Control-Allow-Origin": "*"} if ticket else {}
    if not ticket and (scheme.lower() != "bearer" or not token.strip()):
        return _error(401, "missing bearer token: send 'Authorization: Bearer <token>'",
                      headers={"WWW-Authenticate": "Bearer"})
    try:
        server_id = int(request.match_info["server_id"])
        if not 0 <= server_id < 2**31:
            raise ValueError
    except ValueError:
        return _error(404, "not found")
    try:
        until = streams.check_until(request.query.get("until"))
    except DomainError as exc:
        return _error(exc.status, f"until: {exc.message}", {"query": {"until": [exc.message]}})
    loop = asyncio.get_running_loop()
    try:
        if ticket:
            who = await loop.run_in_executor(hub.pool, streams.authorize_ticket, ctx, ticket, server_id)
        else:
            who = await loop.run_in_executor(hub.pool, streams.authorize, ctx, token.strip(), server_id)
    except DomainError as exc:
        return _error(exc.status, exc.message, headers=cors)
    if who is None:
        if ticket:
            return _error(401, "invalid or expired stream ticket (or its token was revoked)", headers=cors)
        return _error(401, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"})
    if hub.per_user[who.user_id] >= settings.streams_per_user:
        return _error(429, f"at most {settings.streams_per_user} open streams per user (STREAMS_PER_USER)",
                      headers={"Retry-After": "5"})
    if hub.open >= settings.streams_max:
        return _error(503, f"at most {settings.streams_max} open streams (STREAMS_MAX)", headers={"Retry-After": "5"})

    hub.per_user[who.user_id] += 1
    hub.open += 1
    wake = hub.watch(server_id)  # before the first read: a change meanwhile wakes it
    response = web.StreamResponse(status=200, headers={**HEADERS, **cors})
    try:
        await response.prepare(request)
        await _follow(response, hub, ctx, server_id, until, wake)
    except (ConnectionResetError, asyncio.CancelledError):
        pass  # the client went away
    finally:
        hub.unwatch(server_id, wake)
        hub.open -= 1
        hub.per_user[who.user_id] -= 1
        if not hub.per_user[who.user_id]:
            del hub.per_user[who.user_id]
    return response


async def _follow(response: web.StreamResponse, hub: Hub, ctx: Context, server_id: int, until: str,
                  wake: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    settings = ctx.settings
    deadline = time.monotonic() + settings.stream_max_s
    last = None
    while True:
        wake.clear()
        state, moving = await loop.run_in_executor(hub.pool, streams.snapshot, ctx, server_id)
        if state != last:
            await response.write(f"event: state\ndata: {json.dumps(state)}\n\n".encode())
            last = state
        if streams.finished(state, moving, until) or time.monotonic() >= deadline:
            await response.write(b"event: end\ndata: {}\n\n")
            return
        try:
            await asyncio.wait_for(wake.wait(), timeout=settings.stream_recheck_s)
        except TimeoutError:
            await response.write(b": keep-alive\n\n")  # a client gone is noticed here


async def health(request: web.Request) -> web.Response:
    hub = request.app[HUB]
    return web.json_response({"status": "ok" if hub.listening else "degraded", "streams": hub.open,
                              "listening": hub.listening})


def create_app(settings: Settings, context: Context | None = None) -> web.Application:
    app = web.Application()
    app[CONTEXT] = context or build_context(settings)
    app[HUB] = Hub(settings)
    app.router.add_get("/api/v1/servers/{server_id}/events", server_events)
    app.router.add_get("/healthz", health)

    async def listener(app: web.Application):
        task = asyncio.create_task(app[HUB].listen())
        yield
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        app[HUB].pool.shutdown(wait=False)

    app.cleanup_ctx.append(listener)
    return app


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="the live event streams' server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    setup_logging(settings.log_level, settings.log_levels)
    web.run_app(create_app(settings), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
