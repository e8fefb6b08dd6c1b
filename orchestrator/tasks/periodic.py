"""Beat-scheduled work: each task is one use case of the application layer."""
from __future__ import annotations

from celery import shared_task

from ..services import backends, operations, reconciliation, servers


@shared_task(name="orchestrator.periodic.refresh_backend_stats", bind=True)
def refresh_backend_stats(self) -> dict[str, bool]:
    """Which backends answered (an operator's offline backends are left alone)."""
    return backends.refresh_periodic(self.app.context)


@shared_task(name="orchestrator.periodic.recover_operations", bind=True)
def recover_operations(self) -> list[int]:
    """Re-drive in-flight operations whose chain stopped moving (e.g. a broker lost it)."""
    return operations.recover(self.app.context)


@shared_task(name="orchestrator.periodic.spend_installer_configs", bind=True)
def spend_installer_configs(self) -> list[int]:
    """Spend the installer configs of creates that ended where no chain step saw it."""
    return servers.sweep_installer_configs(self.app.context)


@shared_task(name="orchestrator.periodic.reconcile_servers", bind=True)
def reconcile_servers(self, fixes: list[str] | None = None, backend_id: int | None = None,
                      staggered: bool = True) -> dict:
    """A staggered pass over every backend, each under its Redis lock; fixes as configured."""
    ctx = self.app.context
    with ctx.session() as session:
        run = reconciliation.run(ctx, session, fixes=None if fixes is None else frozenset(fixes),
                                 backend_id=backend_id, staggered=staggered, trigger="beat")
        return {"run": run.id, "servers_checked": run.servers_checked, "findings": len(run.findings)}


@shared_task(name="orchestrator.periodic.reconcile_networks", bind=True)
def reconcile_networks(self, fixes: list[str] | None = None, backend_id: int | None = None,
                       staggered: bool = True) -> dict:
    """A staggered pass over every backend's networks; fixes as RECONCILIATION_NETWORK_FIXES."""
    ctx = self.app.context
    with ctx.session() as session:
        run = reconciliation.run_networks(ctx, session, fixes=None if fixes is None else frozenset(fixes),
                                          backend_id=backend_id, staggered=staggered, trigger="beat")
        return {"run": run.id, "networks_checked": run.servers_checked, "findings": len(run.findings),
                "skipped": run.backends_skipped}


@shared_task(name="orchestrator.periodic.reconcile_pools", bind=True)
def reconcile_pools(self, fixes: list[str] | None = None, staggered: bool = True) -> dict:
    """A staggered pass over the pools; fixes as RECONCILIATION_POOL_FIXES."""
    ctx = self.app.context
    with ctx.session() as session:
        run = reconciliation.run_pools(ctx, session, fixes=None if fixes is None else frozenset(fixes),
                                       staggered=staggered, trigger="beat")
        if run is None:
            return {"run": None, "skipped": "another pool reconciliation holds its lock"}
        return {"run": run.id, "pools_checked": run.servers_checked, "findings": len(run.findings)}


@shared_task(name="orchestrator.periodic.fold_operation_minutes", bind=True)
def fold_operation_minutes(self) -> int:
    """The console's per-minute rollup of ended operations, to the last closed minute."""
    from ..services import console

    ctx = self.app.context
    with ctx.session() as session:
        return console.fold_minutes(ctx, session)


@shared_task(name="orchestrator.periodic.sample_queues", bind=True)
def sample_queues(self) -> dict[str, int]:
    """Every queue's length, read by a passive queue_declare (its message count, on Redis and
    RabbitMQ alike; a queue not declared yet counts 0), recorded for the console's chart."""
    from ..services import console
    from ..wire import QUEUES

    lengths: dict[str, int] = {}
    with self.app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=2)
        channel = conn.channel()
        try:
            for queue in QUEUES:
                try:
                    lengths[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
                except conn.channel_errors:  # no such queue (RabbitMQ closes the channel for it)
                    lengths[queue] = 0
                    channel.close()
                    channel = conn.channel()
        finally:
            channel.close()
    ctx = self.app.context
    with ctx.session() as session:
        console.record_queue_lengths(ctx, session, lengths)
    return lengths
