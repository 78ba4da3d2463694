"""Run-wide pytest hooks, for the tests under tests/ and the doctests in sorakit/ alike."""

from __future__ import annotations

import os
from typing import Any

import pytest

# tests/setup.sh installs every optional package, Chromium included, so under CI nothing may be
# skipped (a test or a doctest): a skip there means something the tests need is missing, and it
# fails the run.
_STRICT = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
