"""The running demo in a real browser: headless Debian Chromium driven by Playwright.

The demo runs as its own process (as `make demo` runs it) on a free port with a fresh
instance directory; screenshots of every step land in test-artifacts/e2e/.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

CHROMIUM = os.environ.get("ACCOUNTS_SYNC_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    for base, _instance in running_demo(tmp_path_factory):
        yield base


def running_demo(tmp_path_factory, scale: str = "0.2", **extra_env: str):
    """A demo of its own, as `make demo` runs it: modules that change the books use their own."""
    port = free_port()
    instance = tmp_path_factory.mktemp("demo-instance")
    env = {**os.environ, "PORT": str(port), "DEMO_INSTANCE_DIR": str(instance), "DEMO_SCALE": scale,
           "DEMO_SANDBOX_TEST_HOOKS": "1", "DEMO_SMTP_PORT": str(free_port()), **extra_env}
    env.pop("ACCOUNTS_SYNC_DATABASE_URL", None)
    log = open(instance / "demo.log", "w")  # noqa: SIM115 - closed below
    process = subprocess.Popen([sys.executable, "-m", "accounts_sync.demo", "serve"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if requests.get(base + "/login", timeout=2).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.3)
    else:
        process.kill()
    if process.poll() is not None:
        log.close()
        pytest.fail("The demo did not start:\n" + (instance / "demo.log").read_text()[-3000:],
                    pytrace=False)
    try:
        yield base, instance
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        if ARTIFACTS.exists():
            shutil.copy(instance / "demo.log", ARTIFACTS / f"demo-{port}.log")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}; `make test` installs Debian's "
                    f"chromium package. These tests never skip.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Shots:
    def __init__(self, page, prefix: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page, self.prefix, self.count = page, prefix, 0

    def __call__(self, name: str) -> None:
        self.count += 1
        self.page.screenshot(path=str(ARTIFACTS / f"{self.prefix}-{self.count:02d}-{name}.png"),
                             full_page=False)

    def widths(self, name: str, widths: tuple[int, ...] = (1400, 390)) -> None:
        """The page at each width (its top 1,800 px), and proof that it never scrolls sideways
        (long strings wrap)."""
        self.count += 1
        page = self.page
        before = page.viewport_size
        for width in widths:
            page.set_viewport_size({"width": width, "height": 900})
            page.wait_for_timeout(50)
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{name} scrolls sideways at {width} px ({wide} px wide)"
            path = str(ARTIFACTS / f"{self.prefix}-{self.count:02d}-{name}-{width}.png")
            if page.locator("dialog[open]").count():  # a modal sits where the page is scrolled to
                page.screenshot(path=path)
                continue
            height = min(page.evaluate("document.documentElement.scrollHeight"), 1800)
            page.screenshot(path=path, full_page=True,
                            clip={"x": 0, "y": 0, "width": width, "height": height})
        page.set_viewport_size(before)


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.shots = Shots(page, request.node.name)
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def login(page, base: str, user: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", user)
    page.click("form button[type=submit]")
