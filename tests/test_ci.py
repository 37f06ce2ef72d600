"""The test run itself: under CI=true a skip for a missing test dependency fails the run
(tests/ci_skips.py), other skips stay skips; .ci/run stops when an install it makes fails."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

TESTS = """
import pytest
from ci_skips import missing

absent = pytest.importorskip("animefy_no_such_module")  # the whole file: a collection skip

def test_never_runs():
    pass
"""
FIXTURE_TESTS = """
import pytest
from ci_skips import missing

@pytest.fixture
def browser():
    pytest.skip(missing("chromium", "apt-get install chromium"))

def test_needs_a_browser(browser):
    pass

def test_needs_a_gpu():
    pytest.skip("this machine has no CUDA GPU")  # not a dependency: a skip everywhere

def test_runs():
    assert True
"""


def _pytest(folder: Path, ci: str | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = str(ROOT / "tests")
    res = subprocess.run([sys.executable, "-m", "pytest", "-p", "ci_skips", "-q", "-rfEs", "-p", "no:cacheprovider",
                          "--continue-on-collection-errors", str(folder)], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    return res.returncode, res.stdout + res.stderr


@pytest.fixture
def suite(tmp_path) -> Path:
    (tmp_path / "test_whole_file.py").write_text(TESTS)
    (tmp_path / "test_fixture.py").write_text(FIXTURE_TESTS)
    return tmp_path


def test_dependency_skips_are_skips_outside_ci(suite):
    rc, out = _pytest(suite, None)
    assert rc == 0, out
    assert re.search(r"1 passed, 3 skipped", out), out
    assert "could not import 'animefy_no_such_module'" in out and "missing test dependency chromium" in out


def test_dependency_skips_fail_under_ci_and_other_skips_stay_skips(suite):
    rc, out = _pytest(suite, "true")
    assert rc == 1, out
    assert re.search(r"1 passed, 1 skipped, 2 errors", out), out  # a failing fixture is an error
    assert "ERROR test_whole_file.py" in out and "ERROR test_fixture.py::test_needs_a_browser" in out
    assert "SKIPPED [1] test_fixture.py" in out and "no CUDA GPU" in out


def test_ci_run_fails_when_an_install_fails():
    script = (ROOT / ".ci" / "run").read_text()
    assert script.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in script
    code = [re.sub(r"(^|\s)#.*", "", line) for line in script.replace("\\\n", " ").splitlines()]
    installs = [line for line in code if "install" in line]
    assert installs and not any(re.search(r"\|\|\s*(true|echo|:)", line) for line in installs), installs
    assert any("pytest" in line and "-rfEs" in line for line in code)  # failures, errors and skips listed
