"""What reading each process's high-water mark (VmHWM, /proc/PID/status) and holding a pidfd
per process (exit statuses) add to one process-tree sample: a 16-process tree sampled with
and without the VmHWM read, alternated, thread CPU time per sample, medians and the ratio.

    python benchmarks/tree_peak_cost.py [--rounds 7] [--samples 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from xprof.agent.proc_readers import ProcfsReader
from xprof.agent.proc_tree import ProcessTree

TREE = ("import multiprocessing as mp, time\n"
        "def idle():\n    time.sleep(600)\n"
        "if __name__ == '__main__':\n"
        "    ps = [mp.Process(target=idle) for _ in range(15)]\n"
        "    [p.start() for p in ps]\n    time.sleep(600)\n")


def per_sample(tree: ProcessTree, samples: int) -> float:
    used = 0.0
    for _ in range(samples):
        t0 = time.thread_time()
        tree.measure(time.time())
        used += time.thread_time() - t0
        time.sleep(0.002)
    return used / samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    root = subprocess.Popen([sys.executable, "-c", TREE], start_new_session=True)
    try:
        time.sleep(2.0)
        with_hwm, without = [], []
        real_hwm = ProcfsReader.hwm
        for _ in range(args.rounds):
            for hwm_on in (True, False):  # alternated: load drifts affect both alike
                ProcfsReader.hwm = real_hwm if hwm_on else (lambda self, pid: None)
                tree = ProcessTree(root.pid, self_pid=os.getpid())
                tree.measure(time.time())
                found = tree.measure(time.time()).processes
                (with_hwm if hwm_on else without).append(per_sample(tree, args.samples))
                tree.close()
        ProcfsReader.hwm = real_hwm
        a, b = statistics.median(with_hwm), statistics.median(without)
        print(f"| {found}-process tree, children discovery | per sample |")
        print("| --- | --- |")
        print(f"| with VmHWM reads (shipped) | {a * 1e3:.3f} ms |")
        print(f"| without | {b * 1e3:.3f} ms |")
        print(f"| ratio | {a / b:.2f}x |")
    finally:
        os.killpg(root.pid, 9)
        root.wait()


if __name__ == "__main__":
    main()
