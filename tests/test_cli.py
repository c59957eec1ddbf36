"""The commands a user types: `siyu world generate` and `siyu demo`, run as subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SIYU = [sys.executable, "-m", "siyu.cli"]


def test_world_generate_command(tmp_path):
    result = subprocess.run(
        [*SIYU, "world", "generate", "--scale", "500", "--seed", "9", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    printed = json.loads(result.stdout)
    meta = json.loads((tmp_path / "world.json").read_text())
    assert printed["tables"] == meta["tables"] and meta["scale"] == 500 and meta["seed"] == 9


def test_bad_arguments_explain_themselves():
    result = subprocess.run([*SIYU, "world", "generate", "--scale", "many"], capture_output=True, text=True)
    assert result.returncode == 2 and "invalid int value" in result.stderr


@pytest.mark.integration
def test_demo_runs_end_to_end_and_keeps_secrets_out_of_logs(tmp_path):
    result = subprocess.run(
        [*SIYU, "demo", "--scale", "2000", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "siyu demo summary" in result.stdout
    assert "wecom guides (follow users)" in result.stdout
    assert "access_token=" not in result.stdout + result.stderr
    assert (tmp_path / "world/world.json").exists()
    assert len(list(Path(tmp_path / "drops/archive").glob("*.jsonl"))) == 14
