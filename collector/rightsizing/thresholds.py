"""Every threshold of the rightsizing rules, named (see the package docstring)."""

from __future__ import annotations

from decimal import Decimal

from xprof.sample_counts import GPU_IDLE_PCT as SAMPLE_IDLE_PCT

GIB = 2**30

HEADROOM = 0.20
"""Added to every observed need (CPU p99.5, peak RSS, peak GPU memory) before sizing."""
CPU_PERCENTILE = 99.5
"""Percentile of the tree's CPU cores that sizes vCPUs (Compute Optimizer's default)."""

GPU_UNDERUSED_P95_PCT = 70.0
"""GPU underused: p95 of the used GPUs' utilisation below this (SageMaker LowGPUUtilization)."""
GPU_IDLE_PCT = SAMPLE_IDLE_PCT
"""A GPU sample at or below this utilisation is idle (idle GPUs, idle tail; the agent's
counts mark the idle tail with the same figure)."""
GPU_IDLE_MEMORY_BYTES = GIB
"""A GPU the run never used counts as idle only if its device memory stayed below this and
its utilisation at or below GPU_IDLE_PCT (otherwise someone else was using it)."""
GPU_MEMORY_LOW_SHARE = 0.40
"""GPU memory headroom: peak below this share of the GPU's memory -> a smaller-memory GPU."""
GPU_MEMORY_HIGH_SHARE = 0.90
"""GPU memory near capacity: peak above this share -> OOM risk, a larger-memory GPU."""
CPU_BOUND_SHARE_OF_VCPUS = 0.90
"""CPU bottleneck: the tree uses more than this share of the machine's vCPUs ..."""
CPU_BOUND_GPU_PCT = 10.0
"""... while the GPUs it uses are below this utilisation (at most UTIL_CAP: the counts keep
the GPU-busy value exactly only below it) ..."""
CPU_BOUND_MIN_SHARE = 0.50
"""... in more than this share of the samples (SageMaker CPUBottleneck)."""
IOWAIT_HIGH_PCT = 10.0
"""I/O wait bottleneck: host iowait above this (percent of all cores) ..."""
IOWAIT_GPU_IDLE_PCT = 10.0
"""... while the run's GPUs are below this utilisation (any time for a run without GPUs) ..."""
IOWAIT_MIN_SHARE = 0.25
"""... in more than this share of the samples that carry iowait."""
MEMORY_OVER_SHARE = 0.30
"""Memory over-provisioned: peak RSS below this share of the instance's memory."""
MEMORY_UNDER_SHARE = 0.90
"""Memory under-provisioned: peak RSS above this share of the instance's memory ..."""
MEMORY_LOW_AVAILABLE_SHARE = 0.10
"""... and, where samples carry it, host memory available fell below this share."""
SPOT_MAX_DURATION_S = 4 * 3600.0
"""Spot candidate: on-demand runs shorter than this (interruptions cost little to redo)."""
ABANDONED_MIN_HOURS = 1.0
"""Abandoned spend: at least this many billed idle hours on a resource no run ever used."""
SEVERITY_HIGH_SHARE = 0.50
"""A saving of at least this share of what the run was charged is severity ``high`` ..."""
SEVERITY_WARN_SHARE = 0.20
"""... at least this share ``warn``; smaller savings, or advice without one, ``info``."""
ABANDONED_HIGH_PER_MONTH = Decimal(100)
ABANDONED_WARN_PER_MONTH = Decimal(10)
"""Abandoned spend per month at or above which the advice is ``high`` / ``warn``."""

HOURS_PER_MONTH = Decimal(30 * 24)
NANO = Decimal("1e-9")
SECONDS_PER_HOUR = Decimal(3600)
