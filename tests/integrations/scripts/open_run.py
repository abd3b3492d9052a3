"""Starts an in-process run and never finishes it; argv[1] says how the process ends:
exit (normally), raise (an uncaught exception), interrupt (uncaught KeyboardInterrupt),
kill (SIGKILL after the run reached the store)."""

import os
import signal
import sys
import time

import xprof

run = xprof.start(name=f"open-{sys.argv[1]}", project="scripts", interval=0.1, quiet=True)
print(run.id, flush=True)
xprof.log(step=1, loss=0.5)
time.sleep(0.6)
if sys.argv[1] == "raise":
    raise ValueError("boom")
if sys.argv[1] == "interrupt":
    raise KeyboardInterrupt
if sys.argv[1] == "kill":
    # wait until the run has reached the store (a loaded machine can take longer than 0.6 s)
    from xprof.settings import Settings
    from xprof.store import Store
    from xprof.storeurl import StoreError

    store = Store.open(Settings().store_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            store.find_run(run.id)
            break
        except StoreError:
            time.sleep(0.1)
    os.kill(os.getpid(), signal.SIGKILL)
