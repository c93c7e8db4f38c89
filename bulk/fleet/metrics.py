"""Optional Prometheus endpoint of a worker (``bulk worker --metrics-port P``).

Why a custom collector: the figures already exist as :meth:`bulk.fleet.worker.Worker.statistics` snapshots;
reading them at scrape time (on prometheus-client's own thread) keeps the worker free of metric
bookkeeping and the two views can never disagree. Its own registry, so tests may start several.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from bulk.fleet.worker import Worker


class WorkerCollector(Collector):
    """Exposes one worker's snapshot as ``bulk_worker_*`` metrics, labelled by worker id."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def collect(self) -> Iterator[Any]:
        """Called by prometheus-client on every scrape."""
        s = self._worker.statistics()
        labels = ["worker"]
        held = GaugeMetricFamily("bulk_worker_units_held", "Units this worker holds now", labels=labels)
        held.add_metric([s.worker_id], s.held)
        yield held
        stopping = GaugeMetricFamily("bulk_worker_stopping", "1 while shutting down", labels=labels)
        stopping.add_metric([s.worker_id], int(s.stopping))
        yield stopping
        for name, value, text in (("claimed", s.claimed, "Units claimed"),
                                  ("finished", s.completed, "Units finished"),
                                  ("released", s.released, "Units given back"),
                                  ("runs_finished", s.runs_finished, "Runs this worker marked done")):
            counter = CounterMetricFamily(f"bulk_worker_{name}", text, labels=labels)
            counter.add_metric([s.worker_id], value)
            yield counter


def serve_metrics(port: int, worker: Worker, shop: Any = None, *, addr: str = "127.0.0.1") -> Any:
    """Start the endpoint on a daemon thread; returns the server (call ``shutdown()`` to stop it)."""
    registry = CollectorRegistry()
    registry.register(WorkerCollector(worker))
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server
