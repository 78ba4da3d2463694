"""Run-wide pytest hooks, for the tests under tests/ and the doctests in sorakit/ alike."""

from __future__ import annotations

import os
from typing import Any

import pytest

# tests/setup.sh installs every optional package, Chromium included, so under CI nothing may be
# skipped (a test or a doctest): a skip there means something the tests need is missing, and it
# fails the run.
_STRICT = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Under tests/mutation.py mutmut forks a child per mutant from a process that has drawn progress
# bars. tqdm's default lock holds a multiprocessing semaphore that every child shares: a child
# stopped for time while it holds it leaves it held, and each later child that draws a bar waits
# forever (a timeout, which counts as killed). There, bars take a per-process lock and no monitor thread.
if os.environ.get("SORAKIT_MUTATION"):
    from tqdm import std as _tqdm_std

    _tqdm_std.TqdmDefaultWriteLock.mp_lock = None
    _tqdm_std.tqdm.monitor_interval = 0


def _no_silent_skip(report: Any) -> None:
    if _STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where every optional package is installed: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    outcome = yield
    _no_silent_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Any:
    outcome = yield
    _no_silent_skip(outcome.get_result())
