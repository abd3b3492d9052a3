"""Burns BEFORE seconds of CPU, then INSIDE seconds inside `xprof.profile` (argv: BEFORE
INSIDE NAME): the run must count only the second part."""

import sys
import time

import xprof


def burn(seconds: float) -> None:
    start = time.process_time()
    while time.process_time() - start < seconds:
        pass


before, inside, name = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
burn(before)
with xprof.profile(name=name, project="cpu", interval=0.2, quiet=True):
    burn(inside)
