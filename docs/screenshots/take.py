"""Take the README's screenshots: a 3-run project with sub-cent costs (the first day of a new
user), its weekly report (HTML rendered by headless Chromium) and the dashboard's Leaderboard,
Run and Compare pages (`streamlit run`, through `xprof dashboard`, in headless Chromium).

    python docs/screenshots/take.py            # writes docs/screenshots/*.png

Needs the test extra (selenium) and Debian's chromium + chromium-driver.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.dashboard.subcent_seed import seed_subcent  # noqa: E402
from xprof.store import Store  # noqa: E402

OUT = Path(__file__).resolve().parent
XPROF = str(Path(sys.executable).with_name("xprof"))


def seed(url: str) -> dict[str, str]:
    """The 3 sub-cent runs (one second each), with ten process samples on each for the Run
    page."""
    store = Store.open(url)
    ids = seed_subcent(store)
    for n, run_id in enumerate(ids.values()):
        t0 = store.find_run(run_id)["started_at"].timestamp()
        samples = [{"ts": t0 + i / 10, "cpu_cores": 0.9 + 0.1 * ((i + n) % 4),
                    "rss_bytes": int((300 + 4 * i + 20 * n) * 2**20), "threads": 8,
                    "processes": 2} for i in range(10)]
        store.write_batch(run_id, "trainer-1", samples=samples,
                          run_update={"summary": {"cpu_cores_p50": 1.0, "cpu_cores_p95": 1.2,
                                                  "rss_peak_bytes": (344 + 20 * n) * 2**20}})
    return ids


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser(profile: Path, width: int = 1500, height: int = 1100):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", f"--user-data-dir={profile}",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def shoot(driver, url: str, done: str, path: Path, height: int | None = None) -> None:
    """Load ``url``, wait until the page text holds ``done`` and Streamlit stops running,
    then save the whole page (or ``height`` pixels of it)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 120).until(
        lambda d: done in d.find_element(By.TAG_NAME, "body").text
        and not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
    time.sleep(3)  # charts draw after the data arrives
    driver.set_window_size(1500, 4000)  # lay the whole page out, then measure its content
    time.sleep(2)
    full = driver.execute_script(
        "const m = document.querySelector('[data-testid=\"stMainBlockContainer\"]');"
        "return Math.ceil(m ? m.getBoundingClientRect().bottom : document.body.scrollHeight);")
    driver.set_window_size(1500, min(height or full + 40, 4000))
    time.sleep(1)
    driver.save_screenshot(str(path))
    print(path.relative_to(ROOT))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        url = f"sqlite:///{tmp_path / 'xprof.db'}"
        ids = seed(url)
        env = {**os.environ, "HOME": str(tmp_path), "XPROF_HOME": str(tmp_path / "home")}
        report = tmp_path / "report.html"
        subprocess.run([XPROF, "report", "--store", url, "--out", str(report)], check=True,
                       env=env)
        driver = browser(tmp_path / "chrome")
        port = free_port()
        proc = subprocess.Popen([XPROF, "dashboard", "--store", url, "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            shoot(driver, report.as_uri(), "Total", OUT / "report.png")
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"{base}/_stcore/health", timeout=2)
                    break
                except OSError:
                    time.sleep(0.3)
            shoot(driver, f"{base}/", "On the frontier", OUT / "leaderboard.png")
            shoot(driver, f"{base}/run?run={ids['mid-lr']}", "Params", OUT / "run.png")
            runs = "&".join(f"runs={i}" for i in ids.values())
            shoot(driver, f"{base}/compare?{runs}", "Cost and efficiency",
                  OUT / "compare.png")
        finally:
            driver.quit()
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
