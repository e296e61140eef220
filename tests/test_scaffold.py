"""`mmhost new` writes code that passes its own tests; `plugins --check` validates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from host.cli import main

PYTHON = sys.executable


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, timeout=300, env={**os.environ, **env}
    )


def test_new_strategy_writes_a_strategy_whose_tests_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "strategy", "my_quoter", "--root", str(tmp_path)]) == 0
    assert (tmp_path / "strategies" / "my_quoter.py").is_file()
    assert main(["plugins", "--check", str(tmp_path / "strategies" / "my_quoter.py")]) == 0
    assert "strategies my_quoter" in capsys.readouterr().out
    completed = run([PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "2 passed" in completed.stdout


def test_new_plugin_is_an_installable_package_found_by_entry_point(tmp_path: Path) -> None:
    assert main(["new", "plugin", "desk_limits", "--root", str(tmp_path)]) == 0
    package = tmp_path / "mmhost-desk-limits"
    site = tmp_path / "site"
    installed = run(
        [
            PYTHON,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(package),
        ],
        tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    listing = run(
        [PYTHON, "-m", "host.cli", "plugins", "--json", "--config", str(tmp_path / "none.toml")],
        tmp_path,
        PYTHONPATH=str(site),
    )
    assert listing.returncode == 0, listing.stderr
    record = next(p for p in json.loads(listing.stdout)["plugins"] if p["name"] == "desk_limits")
    assert record["source"] == "entrypoint"
    assert record["distribution"] == "mmhost-desk-limits"
    assert record["hooks"] == ["mmhost_check_decision", "mmhost_startup"]
    tests = run(
        [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        package,
        PYTHONPATH=str(site),
    )
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert main(["plugins", "--check", str(package)]) == 0


def test_new_never_overwrites_and_refuses_bad_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["new", "strategy", "twice", "--root", str(tmp_path)]) == 0
    before = (tmp_path / "strategies" / "twice.py").read_text()
    assert main(["new", "strategy", "twice", "--root", str(tmp_path)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "strategies" / "twice.py").read_text() == before
    assert main(["new", "plugin", "Bad-Name", "--root", str(tmp_path)]) == 2
    assert "not a usable name" in capsys.readouterr().err


def test_check_reports_unknown_hooks_and_bad_signatures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "typo.py").write_text(
        "from host import hookimpl\n\n@hookimpl\ndef mmhost_book_updatd(book):\n    pass\n"
    )
    (tmp_path / "wrong_args.py").write_text(
        "from host import hookimpl\n\n@hookimpl\ndef mmhost_trade(trade, extra):\n    pass\n"
    )
    (tmp_path / "fine.py").write_text(
        "from host import hookimpl\n\n@hookimpl\ndef mmhost_trade(trade):\n    pass\n"
    )
    assert main(["plugins", "--check", str(tmp_path), "--json"]) == 1
    checked = {Path(r["path"]).name: r for r in json.loads(capsys.readouterr().out)["checked"]}
    assert checked["fine.py"]["ok"] and checked["fine.py"]["hooks"] == ["mmhost_trade"]
    assert "mmhost_book_updatd" in checked["typo.py"]["error"]
    assert "extra" in checked["wrong_args.py"]["error"]
