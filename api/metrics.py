"""Prometheus /metrics for the API: request latency by endpoint and status, and, read at
scrape time, operations, servers and backends from the database and task figures from
the workers (orchestrator.services.metrics)."""
from __future__ import annotations

import hmac
import time

from flask import Flask, Response, g, request
from flask_smorest import abort
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from orchestrator.services import metrics


class DatabaseCollector:
    def __init__(self, context):
        self.context = context

    def collect(self):
        ops = GaugeMetricFamily("orchestrator_operations", "Operations by kind and status", labels=["kind", "status"])
        servers = GaugeMetricFamily("orchestrator_servers", "Servers by API status", labels=["status"])
        free = GaugeMetricFamily("orchestrator_backend_free", "Backend free capacity (MiB)", labels=["backend", "resource"])
        total = GaugeMetricFamily("orchestrator_backend_total", "Backend capacity (MiB; cpus)", labels=["backend", "resource"])
        offline = GaugeMetricFamily("orchestrator_backend_offline", "1 when a backend is offline", labels=["backend"])
        drained = GaugeMetricFamily("orchestrator_backend_drained", "1 when a backend is drained", labels=["backend"])
        with self.context.session() as session:
            figures = metrics.database_figures(self.context, session)
        for kind, status, count in figures.operations:
            ops.add_metric([kind, status], count)
        for status, count in figures.servers.items():
            servers.add_metric([status], count)
        for b in figures.backends:
            free.add_metric([b.clustername, "memory"], b.mfree)
            free.add_metric([b.clustername, "disk"], b.dfree)
            total.add_metric([b.clustername, "memory"], b.mtotal)
            total.add_metric([b.clustername, "disk"], b.dtotal)
            total.add_metric([b.clustername, "cpus"], b.ctotal)
            offline.add_metric([b.clustername], int(b.offline))
            drained.add_metric([b.clustername], int(b.drained))
        yield from (ops, servers, free, total, offline, drained)


class TaskCollector:
    def __init__(self, context):
        self.context = context

    def collect(self):
        count = CounterMetricFamily("orchestrator_tasks", "Tasks run by the workers, by task and outcome",
                                    labels=["task", "outcome"])
        seconds = CounterMetricFamily("orchestrator_task_seconds", "Time the workers spent in tasks",
                                      labels=["task", "outcome"])
        try:
            rows = metrics.task_figures(self.context)
        except Exception:  # Redis away: the other figures are still worth serving
            rows = []
        for name, outcome, n, secs in rows:
            count.add_metric([name, outcome], n)
            seconds.add_metric([name, outcome], secs)
        yield from (count, seconds)


# A label per method a client invents would be a new series each: the rest count as OTHER.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def install(app: Flask, context, settings) -> None:
    """/metrics, with the request latency of this process, or of every gunicorn worker in
    prometheus-client's multiprocess mode (PROMETHEUS_MULTIPROC_DIR, see api/gunicorn_conf.py)."""
    registry = CollectorRegistry()
    if settings.prometheus_multiproc_dir:
        multiprocess.MultiProcessCollector(registry)
    latency = Histogram("orchestrator_http_request_seconds", "API request latency", ["method", "endpoint", "status"],
                        registry=None if settings.prometheus_multiproc_dir else registry)
    registry.register(DatabaseCollector(context))
    registry.register(TaskCollector(context))

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response):
        started = g.pop("request_started", None)
        if started is not None:
            endpoint = request.url_rule.rule if request.url_rule else "unmatched"
            method = request.method if request.method in METHODS else "OTHER"
            latency.labels(method, endpoint, str(response.status_code)).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics")
    def metrics_view() -> Response:
        if settings.metrics_token and not _bearer_is(settings.metrics_token):
            abort(401, message="/metrics needs its bearer token (METRICS_TOKEN)", headers={"WWW-Authenticate": "Bearer"})
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _bearer_is(token: str) -> bool:
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())
