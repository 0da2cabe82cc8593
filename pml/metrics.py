"""Prometheus metrics shared by every part of the service.

With several worker processes, `pml serve` points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the
workers start, and /metrics aggregates what every process wrote there.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Buckets around the service's targets: reads p99 ≤ 10 ms, writes p99 ≤ 30 ms.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

HTTP_REQUESTS = Counter(
    "pml_http_requests", "HTTP requests answered", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "pml_http_request_duration_seconds", "Time to answer, by route", ["method", "route"],
    buckets=LATENCY_BUCKETS,
)
LIST_CACHE = Counter(
    "pml_list_cache_reads", "Medication list reads by cache outcome", ["outcome"]  # hit, miss, not_modified
)
DB_POOL_CHECKED_OUT = Gauge(
    "pml_db_pool_connections_in_use", "Database connections checked out of this process's pools",
    multiprocess_mode="livesum",
)
DB_POOL_SIZE = Gauge(
    "pml_db_pool_connections_open", "Database connections open in this process's pools",
    multiprocess_mode="livesum",
)
INTERACTION_CHECKS = Counter(
    "pml_interaction_checks", "Interaction checks run", ["kind"]  # adhoc, patient (CDS Hooks count here)
)
INTERACTION_FINDINGS = Counter(
    "pml_interaction_findings", "Interaction findings reported", ["relevans"]
)
RECONCILIATION_FINDINGS = Counter(
    "pml_reconciliation_findings", "Reconciliation findings produced", ["finding_class"]
)
AUDIT_BATCH = Histogram(
    "pml_audit_batch_records", "Audit records written per group commit",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)
