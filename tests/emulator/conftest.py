"""Fixtures for the emulator tests: one synthetic emulator per module, pybit
pointed at it, and a deadline-bounded ``eventually`` for cross-thread waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import pytest

from host.emulator import EmulatorConfig, EmulatorServer, point_pybit_at
from host.emulator.server import DEFAULT_API_KEY, DEFAULT_API_SECRET

T = TypeVar("T")

API_KEY = DEFAULT_API_KEY
API_SECRET = DEFAULT_API_SECRET


def eventually(
    probe: Callable[[], T | None],
    timeout_s: float = 5.0,
    what: str = "condition",
    interval_s: float = 0.01,
) -> T:
    """Poll ``probe`` until it returns something truthy or the deadline passes.

    Probes that call the REST API should poll slower (``interval_s=0.1``): the
    emulator enforces Bybit's rate limits."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


@pytest.fixture(name="eventually")
def eventually_fixture() -> Callable[..., object]:
    return eventually


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    server = EmulatorServer(EmulatorConfig(speed=1.0, synthetic_step_ms=20))
    urls = server.start()
    restore = point_pybit_at(urls.http)
    try:
        yield server
    finally:
        restore()
        server.stop()


@pytest.fixture
def http(emulator: EmulatorServer):  # -> pybit HTTP
    from pybit.unified_trading import HTTP

    # Retries are the host's job: pybit must not sleep and retry on its own.
    return HTTP(
        api_key=API_KEY,
        api_secret=API_SECRET,
        retry_codes={-1},
        max_retries=1,
        timeout=3,
        return_response_headers=False,
    )


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "emulator" in request.fixturenames:
        server = request.getfixturevalue("emulator")
        server.faults.reset()
