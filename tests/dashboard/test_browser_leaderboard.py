"""A real browser: `xprof dashboard` on a free port, headless Chromium loads the leaderboard,
the page text carries the ranking, and a run named <script>…</script> is shown as text."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.dashboard.helpers import XSS

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
XPROF = str(Path(sys.executable).with_name("xprof"))

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver; .ci/run installs them)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"xprof dashboard exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the dashboard did not become healthy in time")


@pytest.fixture
def dashboard_url(seeded, tmp_path):
    """`xprof dashboard` serving the seeded store; stopped (SIGTERM) after the test."""
    port = _free_port()
    log = (tmp_path / "dashboard.log").open("w+")
    env = {**os.environ, "HOME": str(tmp_path)}  # Streamlit's own files stay in the sandbox
    proc = subprocess.Popen([XPROF, "dashboard", "--store", seeded.url, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    try:
        first_line = proc.stdout.readline()
        url = f"http://127.0.0.1:{port}"
        assert first_line.startswith(f"xprof dashboard: {url}")
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chrome'}",
                "--window-size=1600,1200"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_leaderboard_in_a_real_browser(dashboard_url, browser, tmp_path) -> None:
    """The page text shows the ranking and the HTML run name as literal text; no alert runs."""
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{dashboard_url}/?project=digits")  # the default page lives at /
    body = WebDriverWait(browser, 90).until(
        lambda d: (text := d.find_element(By.TAG_NAME, "body").text)
        and "On the frontier" in text and XSS in text and text)
    assert "Leaderboard" in body and "Project digits · 11 runs" in body
    assert "Page not found" not in body
    assert "Best val_acc per $\n24" in body
    assert f"{XSS} · val_acc 0.96 · $0.04" in body
    try:
        alert_text = browser.switch_to.alert.text
    except NoAlertPresentException:
        alert_text = None
    assert alert_text is None
    scripts = [s.get_attribute("innerHTML") or "" for s in
               browser.find_elements(By.TAG_NAME, "script")]
    assert not any("alert(1)" in s for s in scripts)
    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
