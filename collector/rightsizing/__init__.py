"""Rightsizing rules: pure functions from one run's evidence to a recommendation or None.

Each rule reads a :class:`RunEvidence` (the run's own CPU and GPU samples, counted by bucket
as :mod:`xprof.sample_counts` describes, each GPU's digest, its hardware,
what it was charged, the catalog rows of its provider and region) and returns at most one
:class:`Recommendation`. Nothing in this package touches the store;
:mod:`xprof.collector.advise` loads the evidence, runs :data:`RUN_RULES` and stores what they
return.

Judging follows AWS Compute Optimizer (p99.5 CPU, 20 % headroom) and SageMaker Debugger's
profiler rules (LowGPUUtilization p95 < 70 %, CPUBottleneck CPU > 90 % while GPU < 10 % for
over half the run). Every threshold is a named constant below.

**The observed need** of a run is: p99.5 of its process tree's CPU cores, its peak RSS, the
GPUs it actually used, and the peak GPU memory on any of them, each plus :data:`HEADROOM`.
A suggested instance covers that need, priced like the run (spot for a spot run), runs the
same CPU architecture (unless ``advise.allow_arch_change``), and keeps the machine's GPU model
and memory class, except in the GPU-memory rules, which may pick any GPU with enough memory.
Of the covering catalog rows of the same provider and region, it is the one with the lowest
**predicted cost per run** (:mod:`.predict`: the run's time split by bottleneck and scaled
by hardware ratios, or by the measured ratio of the project's comparable runs; :mod:`.choose`:
the time/cost frontier). A machine predicted to cost more per run than the run was charged is
never suggested as a saving; the OOM-risk rules (GPU memory, host memory) alone name a larger,
dearer machine, with what it adds.

**Savings** are against what the run was charged (:class:`Baseline`): billed cost where
billing has arrived, else the estimate; when no other run or process shared the machine, the
whole machine's price (a lone run on 1 of 4 GPUs still paid for 4). ``saving_per_run`` is
that less the predicted cost per run on the suggested machine. ``saving_per_month`` is
``saving_per_run × runs_per_month``, where runs per month is the number of the project's runs
that started in the 30 days up to its latest run (at least 1; not extrapolated for younger
projects). Savings of different rules overlap: each is the saving of that one change.

**Enough data**: no rule fires for a run shorter than ``advise.preliminary_s``; up to
``advise.min_duration_s`` its advice is preliminary (confidence low); rules over sample series
need ``advise.min_samples`` samples (settings, see ``xprof config``).

Modules: :mod:`.thresholds` (every threshold), :mod:`.evidence` (what the rules read and
return), :mod:`.savings` (need, covering offers, money), :mod:`.predict` (run time on another
machine), :mod:`.choose` (candidates by predicted cost per run), :mod:`.gpu_rules`,
:mod:`.host_rules`, :mod:`.lifecycle_rules`, and :mod:`.rules` (``RUN_RULES``, ``evaluate``).
"""
