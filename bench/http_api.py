"""The HTTP API under a real ASGI server: requests per second and p99 latency of
``GET /overview`` and ``POST /quotes/change`` through uvicorn on loopback, SQLite store.

    python -m bench.http_api            # 4 client threads, 10 s per route
    python -m bench.http_api --quick    # 2 threads, 3 s

Reported, not asserted (no timed tests). The server is another process (``uvicorn``, one
worker), the clients are threads of this one sharing an ``httpx.Client`` each; every request
goes over 127.0.0.1 only and the run is bounded in time.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ACCOUNTS = 50


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _prepare(path: Path) -> None:
    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway

    billing = Billing(Catalogue.default(), SqliteStore(path), FakeGateway())
    for number in range(ACCOUNTS):
        billing.open_account(f"acct-{number}")


def serve(path: str, port: int) -> None:
    """The server process: the account API on ``path``, the account from ``X-Account``."""
    import uvicorn

    from subkit.plans import Catalogue
    from subkit.service import Billing
    from subkit.stores.sqlite import SqliteStore
    from subkit.testing import FakeGateway
    from subkit.web import create_app

    billing = Billing(Catalogue.default(), SqliteStore(path), FakeGateway())
    app = create_app(billing, authenticate=lambda request: request.headers.get("x-account"))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _wait_up(base: str, deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/openapi.json", timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("the server did not start")


def _load(
    base: str, method: str, path: str, body: object, threads: int, seconds: float
) -> tuple[float, float, float]:
    import httpx

    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[int] = [0] * threads
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as http:
            number = index
            while time.monotonic() < stop:
                headers = {
                    "X-Account": f"acct-{number % ACCOUNTS}",
                    "Content-Type": "application/json",
                }
                started = time.perf_counter()
                response = http.request(method, path, json=body, headers=headers)
                latencies[index].append(time.perf_counter() - started)
                if response.status_code != 200:
                    errors[index] += 1
                number += threads

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    began = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - began
    every = sorted(value for values in latencies for value in values)
    if sum(errors):
        raise RuntimeError(f"{sum(errors)} requests to {path} were not 200")
    p99 = every[min(len(every) - 1, int(len(every) * 0.99))]
    return len(every) / elapsed, statistics.median(every) * 1000, p99 * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    threads, seconds = (2, 3.0) if args.quick else (4, 10.0)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.sqlite3"
        _prepare(path)
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"from bench.http_api import serve; serve({str(path)!r}, {port})",
            ]
        )
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_up(base, time.monotonic() + 30)
            print(f"{threads} client threads, {seconds:g} s per route")
            print("| route | requests/s | p50 ms | p99 ms |")
            for method, route, body in [
                ("GET", "/overview", None),
                ("POST", "/quotes/change", {"plan": "growth", "addons": {"extra_user": 2}}),
            ]:
                _load(base, method, route, body, threads, 1.0)  # warm up
                rate, p50, p99 = _load(base, method, route, body, threads, seconds)
                print(f"| {method} {route} | {rate:.0f} | {p50:.1f} | {p99:.1f} |")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
