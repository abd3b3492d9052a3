"""A real run's advice with its predicted figures: for a check on a real GPU.

Advises the run (as `xprof advise RUN` does, with the settings in force, so
XPROF_ADVISE_MIN_DURATION_S / XPROF_ADVISE_PRELIMINARY_S apply) and prints, per
recommendation, the machine it suggests, the run's time split by bottleneck, and each
candidate's predicted time and cost per run with its confidence and basis.

    python benchmarks/advise_real_run.py RUN_ID [--store URL]
"""

from __future__ import annotations

import argparse
from decimal import Decimal

from xprof.collector.advise import advise_run
from xprof.money import format_money
from xprof.settings import Settings
from xprof.store import Store
from xprof.units import duration_text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--store")
    args = parser.parse_args()
    settings = Settings(flags={"store": args.store})
    store = Store.open(settings.store_url)
    run = store.find_run(args.run)
    print(f"run {run['name']} ({run['id'][:8]}): {duration_text(run['duration_s'] or 0)} on "
          f"{run.get('instance_type') or run['host']} "
          f"({(run.get('hardware') or {}).get('gpu_model') or 'no GPU'})")
    recs = advise_run(store, run["id"], settings)
    if not recs:
        print("no advice (see `xprof advise` for the thresholds)")
    for rec in recs:
        currency = rec.currency or "USD"
        print(f"\n[{rec.rule}] {rec.title}")
        charged = (rec.evidence.get("charged") or {}).get("amount")
        if charged:
            print(f"  charged {format_money(Decimal(charged), currency)} "
                  f"({rec.evidence['charged']['source']})")
        if split := rec.evidence.get("time_split"):
            print("  time split: " + ", ".join(f"{k} {v}" for k, v in split.items()))
        for c in rec.evidence.get("candidates") or []:
            print(f"  {c['role']:>8}: {c['label']}: "
                  f"{duration_text(c['predicted_duration_s'])}, "
                  f"{format_money(Decimal(c['predicted_cost']), currency)} a run, "
                  f"{c['tradeoff']}, confidence {c['confidence']} ({c['basis']}; "
                  f"ratios {c['ratios']})")


if __name__ == "__main__":
    main()
