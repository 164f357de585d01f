"""Every entry point answers --help with its real invocation and without side effects, and
`snnbench <command>` is `python -m bench.<command>`."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import COMMANDS, main

from conftest import ROOT


def tree_state() -> dict:
    return {p: p.stat().st_mtime_ns for d in ("results", "data", "outputs") for p in (ROOT / d).rglob("*") if p.is_file()}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_help_names_the_real_invocation_and_changes_nothing(command, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    before = tree_state()
    module = importlib.import_module(COMMANDS[command][0])
    with pytest.raises(SystemExit) as exit_:
        module.main(["--help"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: python -m {COMMANDS[command][0].removesuffix('.__main__')}")
    assert tree_state() == before


def test_snnbench_lists_and_dispatches_commands(capsys):
    main(["--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: snnbench <command>") and all(f"  {c} " in out for c in COMMANDS)
    with pytest.raises(SystemExit, match="no command 'trian'.*train"):
        main(["trian"])
    with pytest.raises(SystemExit) as exit_:
        main(["cite", "--help"])
    assert exit_.value.code == 0 and capsys.readouterr().out.startswith("usage: python -m bench.cite")


def test_the_console_script_is_installed():
    script = Path(sys.executable).parent / "snnbench"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, check=True).stdout
    assert "run-stages" in out
