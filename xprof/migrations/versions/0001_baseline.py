"""Baseline: the first released schema (runs, params, tags, samples, gpu_samples, metrics,
prices, billing_items, costs, recommendations, imports).

New stores are created from ``xprof.schema`` directly and stamped; this revision is the root
that later revisions build on.

Revision ID: 0001
"""

revision = "0001"
down_revision = None


def upgrade() -> None:
    pass
