"""`make demo`, as a new user runs it: twice in a row, each run sends the three digests."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def test_make_demo_twice_sends_three_digests_each_time(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed (apt-get install make)")
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    for name in ("config", "seeds"):
        shutil.copytree(ROOT / name, tmp_path / name)
    venv = Path(sys.executable).parent.parent  # the installed project; never reinstalled here
    command = ["make", "-s", "-o", str(venv / ".installed-stamp"), f"VENV={venv}", "demo"]
    for _ in range(2):
        done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
        assert "3 digests in var/demo/mail" in done.stdout
        assert "3 sent, 0 to retry, 0 failed" in done.stdout
        assert len(list((tmp_path / "var/demo/mail/new").iterdir())) == 3
        assert (tmp_path / "var/demo/preview/alice.html").is_file()
    assert not (tmp_path / "var/mail").exists()  # the demo leaves the real setup alone
