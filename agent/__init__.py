"""xprof.agent: wraps a training command, samples its process tree and GPUs, records it."""
