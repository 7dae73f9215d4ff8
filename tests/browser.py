"""Browser-test plumbing: the machine's Chromium through Playwright, and a real server.

Tests that need a browser ask for the ``browser`` fixture (tests/test_page_browser.py). Without
Chromium or Playwright they skip with one line saying why, unless ``SUBKIT_REQUIRE_BROWSER=1``
(set by ``.ci/run``), under which they fail. The server is uvicorn on a socket bound before
it starts, in a thread; readiness is an event set by uvicorn's own startup, waited for with a
bound (no sleeps).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

#: Where Debian's chromium package puts the browser; SUBKIT_CHROMIUM overrides.
CHROMIUM = os.environ.get("SUBKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
STARTUP_SECONDS = 30


def browser_missing() -> str | None:
    """Why no browser test can run here, or ``None`` when one can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.path.exists(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


def need_browser() -> None:
    """Skip (or fail under SUBKIT_REQUIRE_BROWSER=1) when the browser tests cannot run."""
    why = browser_missing()
    if why is None:
        return
    if os.environ.get("SUBKIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"SUBKIT_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(f"browser tests skipped: {why}")


@contextmanager
def launched() -> Iterator[Any]:
    """The machine's Chromium, headless, through Playwright (never a browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def free_socket() -> socket.socket:
    """A listening socket on 127.0.0.1 and a port the system picked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


@contextmanager
def serving(app: Any, sock: socket.socket) -> Iterator[None]:
    """Run ``app`` with uvicorn on ``sock`` in a thread, until the block ends."""
    import uvicorn

    ready = threading.Event()

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            ready.set()

    server = Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not ready.wait(STARTUP_SECONDS):
            raise RuntimeError(f"the server did not start within {STARTUP_SECONDS} s")
        yield
    finally:
        server.should_exit = True
        thread.join(STARTUP_SECONDS)
        sock.close()
