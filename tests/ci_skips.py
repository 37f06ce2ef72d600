"""Under CI (`.ci/run` with CI=true), which installs every test dependency, a test or a test
file that skips because a dependency is missing has tested nothing: its skip becomes a failure.
A dependency skip is pytest.importorskip's own message ("could not import ...") or a reason made
with missing(). Elsewhere such tests skip as usual. conftest.py imports the two hooks (pytest
registers hooks found in a conftest's namespace); `pytest -p ci_skips` loads them alone."""

from __future__ import annotations

import os

import pytest

MISSING = "missing test dependency "


def missing(dependency: str, how: str) -> str:
    """The skip reason for an absent test dependency (a failure under CI=true)."""
    return f"{MISSING}{dependency}: {how}"


def _fail_if_dependency_missing(report: pytest.CollectReport | pytest.TestReport) -> None:
    if os.environ.get("CI", "").lower() != "true" or not report.skipped or not isinstance(report.longrepr, tuple):
        return
    reason = report.longrepr[2]
    if MISSING in reason or "could not import" in reason:
        report.outcome = "failed"
        report.longrepr = f"CI=true, and .ci/run installs every test dependency, yet: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector):
    report = yield
    _fail_if_dependency_missing(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    _fail_if_dependency_missing(report)
    return report
