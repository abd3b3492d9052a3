"""The run page shows a recorded run's figures in human units: CPU cores with two decimals,
peak memory in MiB (exact per process and the tree's sampled peak, labelled), and the tree's
failed processes, from a real `xprof run`."""

from __future__ import annotations

import sys
import textwrap

from tests.agent.test_exact_peak_and_failures import needs_exit_info
from tests.dashboard.helpers import frame_with

PAGE = "views/run.py"
SCRIPT = textwrap.dedent("""\
    import multiprocessing as mp, time

    def work(n):
        b = bytearray(64 * 1024 * 1024)
        for i in range(0, len(b), 4096): b[i] = 1
        time.sleep(1.5)
        raise SystemExit(3)

    if __name__ == "__main__":
        workers = [mp.Process(target=work, args=(n,)) for n in range(2)]
        for w in workers: w.start()
        for w in workers: w.join()
""")


@needs_exit_info
def test_run_page_reads_in_units(xprof, store, store_url, tmp_path, open_page) -> None:
    script = tmp_path / "workers.py"
    script.write_text(SCRIPT)
    result = xprof("run", "--name", "two-workers", "--", sys.executable, str(script))
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    at = open_page(PAGE, store_url, run=run["id"])
    figures = frame_with(at, "peak memory, one process (exact)",
                         "peak memory, whole tree (sampled)", "CPU cores p50").iloc[0]
    exact = run["summary"]["rss_peak_process_bytes"] / 1024 / 1024
    assert exact >= 64
    assert figures["peak memory, one process (exact)"] == f"{exact:.1f} MiB"
    assert figures["peak memory, whole tree (sampled)"].endswith(" MiB")
    cores = figures["CPU cores p50"]
    assert cores == f"{run['summary']['cpu_cores_p50']:.2f}"
    assert any("2 processes of the run failed" in w.value for w in at.warning)
    failed = frame_with(at, "pid", "ended", "command")
    assert list(failed["ended"]) == ["exit 3", "exit 3"]


def test_no_raw_byte_counts(xprof, store, store_url, open_page) -> None:
    """A plain run: no raw byte count anywhere in the summary table."""
    result = xprof("run", "--", sys.executable, "-c", "import time; time.sleep(1.5)")
    assert result.returncode == 0, result.stderr
    [run] = store.list_runs()
    at = open_page(PAGE, store_url, run=run["id"])
    row = frame_with(at, "peak memory, whole tree (sampled)").iloc[0]
    assert run["summary"]["rss_peak_bytes"] > 1024 * 1024
    assert str(run["summary"]["rss_peak_bytes"]) not in " ".join(map(str, row.values))
    assert row["peak memory, whole tree (sampled)"].endswith("MiB")
