"""xprof.collector: prices, billing, per-run cost and recommendations."""
