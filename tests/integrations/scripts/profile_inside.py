"""Uses xprof.profile in a script that `xprof run` already records."""

import xprof

with xprof.profile(name="inner", params={"depth": 3}) as run:
    print("inner-id", run.id, flush=True)
    for step in range(3):
        xprof.log(step=step, loss=1.0 / (step + 1))
