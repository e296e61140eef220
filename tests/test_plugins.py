"""Plugin discovery: built-ins, folders, entry points; broken plugins are reported, not fatal."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from host.cli import main
from host.plugins import build_plugin_host
from host.testing import PROJECT_ROOT, build_host, config_dict, replay, shipped_config_text

NEW_STRATEGY = textwrap.dedent(
    '''
    """A strategy written by a user, unknown to the host."""
    from pydantic import Field

    from host import Decision, Quote, Side, Strategy, StrategyParams


    class WideParams(StrategyParams):
        offset_ticks: int = Field(50, gt=0)


    class WideQuoter(Strategy):
        name = "wide_quoter"
        Params = WideParams

        def on_book(self, book):
            mid = book.mid_ticks()
            if mid is None or self.ctx.open_orders:
                return None
            offset = self.params.offset_ticks
            return Decision(quotes=(
                Quote(Side.BUY, int(mid) - offset, 1, "bid"),
                Quote(Side.SELL, int(mid) + offset, 1, "ask"),
            ))
    '''
)


def write_config(tmp_path: Path, strategy_name: str) -> Path:
    text = shipped_config_text(absolute=False)
    text = text.replace(
        'strategy_dirs = ["strategies"]',
        f'strategy_dirs = ["{PROJECT_ROOT / "strategies"}", "{tmp_path / "strategies"}"]',
    )
    text = text.replace('plugin_dirs = ["plugins"]', f'plugin_dirs = ["{tmp_path / "plugins"}"]')
    text = text.replace('name = "static_spread"', f'name = "{strategy_name}"')
    if strategy_name != "static_spread":
        text = (
            text[: text.index("[strategies.params]")]
            + "[strategies.params]\n\n"
            + text[text.index("[risk]") :]
        )
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_a_dropped_strategy_file_is_listed_and_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "strategies").mkdir()
    (tmp_path / "strategies" / "wide_quoter.py").write_text(NEW_STRATEGY)
    config = write_config(tmp_path, "wide_quoter")

    assert main(["plugins", "--json", "--config", str(config)]) == 0
    listing = json.loads(capsys.readouterr().out)
    record = next(p for p in listing["plugins"] if p["name"] == "wide_quoter")
    assert record["source"] == "folder"
    assert record["strategies"] == ["wide_quoter"]

    status = main(
        [
            "run",
            "--config",
            str(config),
            "--duration",
            "5",
            "--speed",
            "max",
            "--json",
            "--no-log-file",
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert status == 0
    assert summary["orders"] == 2  # one bid, one ask, then it waits


def test_a_plugin_with_a_syntax_error_is_listed_as_failed_and_the_host_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "broken.py").write_text("def oops(:\n    pass\n")
    (tmp_path / "strategies").mkdir()
    config = write_config(tmp_path, "static_spread")

    assert main(["plugins", "--json", "--config", str(config)]) == 0
    listing = json.loads(capsys.readouterr().out)
    broken = next(p for p in listing["plugins"] if p["name"] == "broken")
    assert broken["error"].startswith("SyntaxError")
    assert "broken.py, line 1" in broken["error"]
    assert listing["failed"] == 1

    status = main(
        [
            "run",
            "--config",
            str(config),
            "--duration",
            "5",
            "--speed",
            "max",
            "--json",
            "--no-log-file",
        ]
    )
    captured = capsys.readouterr()
    assert status == 0
    assert json.loads(captured.out)["orders"] > 0
    assert "plugin broken failed to load" in captured.err


def make_distribution(site: Path, name: str, module_source: str, entry_point: str) -> None:
    """A real (metadata-only, unzipped) installed distribution on a sys.path entry."""
    (site / f"{name}.py").write_text(module_source)
    dist_info = site / f"{name}-1.2.3.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (dist_info / "entry_points.txt").write_text(f"[mmhost]\n{entry_point}\n")


def test_entry_point_plugins_are_discovered_and_broken_ones_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    make_distribution(
        site,
        "mmhost_desk_tools",
        "from host import hookimpl\n\n"
        "@hookimpl\n"
        "def mmhost_collect_metrics(engine):\n"
        "    return {'desk_tools_loaded': 1.0}\n",
        "desk_tools = mmhost_desk_tools",
    )
    make_distribution(
        site,
        "mmhost_broken_pkg",
        "raise RuntimeError('boom at import')\n",
        "broken_pkg = mmhost_broken_pkg",
    )
    monkeypatch.syspath_prepend(str(site))
    try:
        host = build_plugin_host()
        records = {record.name: record for record in host.records}
        assert records["desk_tools"].source == "entrypoint"
        assert records["desk_tools"].distribution == "mmhost_desk_tools"
        assert records["desk_tools"].version == "1.2.3"
        assert records["desk_tools"].hooks == ["mmhost_collect_metrics"]
        assert "RuntimeError: boom at import" in (records["broken_pkg"].error or "")
        assert host.missing(["desk_tools", "mmhost_desk_tools", "not_there"]) == ["not_there"]
    finally:
        sys.modules.pop("mmhost_desk_tools", None)
        sys.modules.pop("mmhost_broken_pkg", None)


def test_required_plugins_missing_stops_the_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "strategies").mkdir()
    config = write_config(tmp_path, "static_spread")
    config.write_text(
        config.read_text().replace("[host]\n", '[host]\nrequired_plugins = ["risk_pack"]\n')
    )
    status = main(["run", "--config", str(config), "--no-log-file"])
    assert status == 2
    assert "host.required_plugins: not loaded: risk_pack" in capsys.readouterr().err


def test_a_user_plugin_replaces_a_builtin_venue() -> None:
    """Built-in behaviour is a plugin: a later registration of the same kind wins."""
    from host.hookspecs import hookimpl
    from host.venues.sim import SimVenue

    class LoudSim(SimVenue):
        submitted = 0

        def submit(self, actions):
            LoudSim.submitted += len(actions)
            super().submit(actions)

    class Replacement:
        @hookimpl
        def mmhost_register_venues(self):
            return {"sim": LoudSim}

    runtime = replay(build_host(config_dict(), plugins=[Replacement()]), duration_s=5)
    assert LoudSim.submitted == runtime.engine.oms.orders_sent + runtime.engine.oms.cancels_sent > 0
