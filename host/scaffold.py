"""`mmhost new strategy NAME` and `mmhost new plugin NAME`: starting points that
already pass their own tests, and `mmhost plugins --check PATH`.

A strategy is one file in strategies/ with a test beside the project's tests.
A plugin is a pip-installable package with an ``mmhost`` entry point, so desks
share analyzers and risk rules as ordinary Python packages.
"""

from __future__ import annotations

import keyword
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pluggy

from host import hookspecs
from host.hookspecs import PROJECT_NAME
from host.plugins import describe_exception, import_file, plugin_objects

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


class ScaffoldError(ValueError):
    """A name or a target that cannot be used, with the reason."""


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name) or keyword.iskeyword(name):
        raise ScaffoldError(
            f"{name!r} is not a usable name: use lower-case letters, digits and _ "
            "(a Python identifier, at most 40 characters)"
        )
    return name


def class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


STRATEGY_TEMPLATE = '''"""{title}: describe what it quotes and why."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from host import Decision, Quote, Side, Strategy, StrategyParams


class {cls}Params(StrategyParams):
    half_spread_ticks: int = Field(5, gt=0, description="Distance of each quote from mid, ticks.")
    order_size_quote: Decimal = Field(Decimal("100"), gt=0, description="Quote size, USDT.")


class {cls}(Strategy):
    name = "{name}"
    Params = {cls}Params
    params: {cls}Params

    def on_book(self, book) -> Decision | None:
        mid_ticks = book.mid_ticks()
        if mid_ticks is None:
            return None
        bid_ticks = int(mid_ticks) - self.params.half_spread_ticks
        ask_ticks = int(mid_ticks) + 1 + self.params.half_spread_ticks
        size_lots = self.ctx.instrument.lots_for_notional(self.params.order_size_quote, ask_ticks)
        if size_lots < self.ctx.instrument.min_qty_lots:
            return None
        return Decision(
            quotes=(
                Quote(Side.BUY, bid_ticks, size_lots, "bid"),
                Quote(Side.SELL, ask_ticks, size_lots, "ask"),
            )
        )

    def on_save(self) -> dict:
        return {{"version": 1}}

    def on_load(self, state: dict) -> None:
        pass
'''

STRATEGY_TEST_TEMPLATE = '''"""Tests of strategies/{name}.py on the bundled recording."""

from __future__ import annotations

from pathlib import Path

from host.testing import build_host, config_dict, replay

STRATEGY_DIR = Path(__file__).resolve().parents[{depth}] / "strategies"


def run(params: dict, duration_s: float = 30):
    config = config_dict()
    config["strategies"][0].update(name="{name}", params=params)
    return replay(build_host(config, strategy_dirs=[STRATEGY_DIR]), duration_s=duration_s)


def test_{name}_quotes_both_sides_around_mid() -> None:
    runtime = run({{"half_spread_ticks": 5}})
    orders = list(runtime.engine.oms.orders.values())
    bid = next(o for o in orders if o.tag == "bid")
    ask = next(o for o in orders if o.tag == "ask")
    assert ask.price_ticks - bid.price_ticks == 11


def test_{name}_cancels_everything_at_the_end() -> None:
    runtime = run({{"half_spread_ticks": 5}})
    assert all(order.is_terminal for order in runtime.engine.oms.orders.values())
'''

PLUGIN_PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{dist}"
version = "0.1.0"
description = "{title}: an mmhost plugin."
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["mmhost"]

[project.entry-points.mmhost]
{name} = "{name}.plugin"

[tool.setuptools.packages.find]
where = ["src"]
"""

PLUGIN_MODULE = '''"""{title}: an mmhost risk rule shipped as a package.

Refuses any quote larger than ``max_size_lots`` (settings: ``[plugins.{name}]``
in config.toml).
"""

from __future__ import annotations

from host import Decision, hookimpl
from host.risk import Verdict

DEFAULT_MAX_SIZE_LOTS = 1_000
_settings: dict = {{}}


@hookimpl
def mmhost_startup(engine) -> None:
    _settings.update(engine.config.plugins.get("{name}", {{}}))


@hookimpl
def mmhost_check_decision(decision: Decision) -> Verdict | None:
    limit = int(_settings.get("max_size_lots", DEFAULT_MAX_SIZE_LOTS))
    too_big = frozenset(q.tag for q in decision.quotes if q.size_lots > limit)
    if too_big:
        return Verdict("{name}", f"quote above {{limit}} lots", tags=too_big)
    return None
'''

PLUGIN_TEST = '''"""Tests of the {name} plugin through the host's public hooks."""

from __future__ import annotations

from host.testing import build_host, config_dict, replay
from {name} import plugin


def test_{name}_refuses_large_quotes() -> None:
    config = config_dict(plugins={{"{name}": {{"max_size_lots": 1}}}})
    runtime = replay(build_host(config, plugins=[plugin]), duration_s=10)
    assert runtime.engine.oms.orders_sent == 0
    assert {{event.rule for event in runtime.engine.risk_events}} == {{"{name}"}}


def test_{name}_lets_small_quotes_through() -> None:
    config = config_dict(plugins={{"{name}": {{"max_size_lots": 1000}}}})
    runtime = replay(build_host(config, plugins=[plugin]), duration_s=10)
    assert runtime.engine.oms.orders_sent > 0
'''

PLUGIN_README = """# {dist}

{title}: an [mmhost](https://pypi.org/project/mmhost/) plugin. Install it
next to mmhost and the host finds it through its `mmhost` entry point:

```
pip install -e .
mmhost plugins            # lists "{name}" with source "entrypoint"
```

Settings, in the host's config.toml:

```toml
[plugins.{name}]
max_size_lots = 50
```

Tests: `pytest` (mmhost's pytest plugin provides `host.testing`).
"""


def new_strategy(name: str, root: Path) -> list[Path]:
    """Write strategies/NAME.py and tests/strategies/test_NAME.py under ``root``."""
    check_name(name)
    strategy_path = root / "strategies" / f"{name}.py"
    test_path = root / "tests" / "strategies" / f"test_{name}.py"
    files = {
        strategy_path: STRATEGY_TEMPLATE.format(
            name=name, cls=class_name(name), title=name.replace("_", " ").capitalize()
        ),
        test_path: STRATEGY_TEST_TEMPLATE.format(name=name, depth=2),
    }
    return _write_new(files)


def new_plugin(name: str, root: Path) -> list[Path]:
    """Write a pip-installable plugin package ``mmhost-NAME/`` under ``root``."""
    check_name(name)
    dist = f"mmhost-{name.replace('_', '-')}"
    package = root / dist
    title = name.replace("_", " ").capitalize()
    values = {"name": name, "dist": dist, "title": title}
    files = {
        package / "pyproject.toml": PLUGIN_PYPROJECT.format(**values),
        package / "README.md": PLUGIN_README.format(**values),
        package / "src" / name / "__init__.py": f'"""{title}: an mmhost plugin."""\n',
        package / "src" / name / "plugin.py": PLUGIN_MODULE.format(**values),
        package / "tests" / f"test_{name}.py": PLUGIN_TEST.format(**values),
    }
    return _write_new(files)


def _write_new(files: dict[Path, str]) -> list[Path]:
    existing = [path for path in files if path.exists()]
    if existing:
        raise ScaffoldError(f"{existing[0]} already exists; nothing was written")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)


@dataclass(slots=True)
class CheckReport:
    """What `mmhost plugins --check` found in one file."""

    path: str
    ok: bool
    hooks: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    error: str | None = None


def check_path(path: Path) -> list[CheckReport]:
    """Validate a plugin or strategy file, a folder of them, or a plugin package.

    Each module is imported under a private name and registered in a scratch
    PluginManager: hook names and arguments are checked against the specs,
    strategy Params must build with their defaults or say which are required.
    """
    if path.is_file():
        return [_check_file(path)]
    pyproject = path / "pyproject.toml"
    if pyproject.is_file():
        return _check_package(path, pyproject)
    if path.is_dir():
        return [_check_file(p) for p in sorted(path.glob("*.py")) if not p.name.startswith("_")]
    return [CheckReport(str(path), False, error="no such file or folder")]


def _check_package(path: Path, pyproject: Path) -> list[CheckReport]:
    data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    entry_points = data.get("project", {}).get("entry-points", {}).get(PROJECT_NAME, {})
    if not entry_points:
        return [
            CheckReport(
                str(pyproject),
                False,
                error="no [project.entry-points.mmhost] table: the host "
                "would not find this package",
            )
        ]
    reports = []
    for name, target in entry_points.items():
        module_path = target.split(":")[0].replace(".", "/")
        candidates = [path / "src" / f"{module_path}.py", path / f"{module_path}.py"]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            reports.append(CheckReport(f"{name} = {target}", False, error="module not found"))
        else:
            reports.append(_check_file(found))
    return reports


def _check_file(path: Path) -> CheckReport:
    report = CheckReport(str(path), False)
    try:
        module = import_file(path, f"mmhost_check.{path.stem}")
        plugin, companion = plugin_objects(module, strategies=True)
        scratch = pluggy.PluginManager(PROJECT_NAME)
        scratch.add_hookspecs(hookspecs)
        for index, item in enumerate(p for p in (plugin, companion) if p is not None):
            scratch.register(item, name=f"checked-{index}")
            report.hooks.extend(c.name for c in scratch.get_hookcallers(item) or [])
        scratch.check_pending()
        for offered in scratch.hook.mmhost_register_strategies():
            for strategy_class in offered or []:
                if not strategy_class.name:
                    raise ValueError(f"{strategy_class.__name__} has no name")
                report.strategies.append(strategy_class.name)
    except Exception as error:
        report.error = describe_exception(error)
        return report
    report.hooks = sorted(set(report.hooks))
    report.ok = True
    return report
