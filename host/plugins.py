"""The plugin manager and plugin discovery.

Plugins come from three places, loaded in this order:
1. built-in modules (``BUILTIN_PLUGINS``): the host's own behaviour, written
   against the same hooks a user plugin uses, so a user plugin can replace it;
2. the ``mmhost`` entry-point group of installed distributions (desks share
   plugins as pip packages);
3. ``*.py`` files in the configured plugin and strategy folders.

Each plugin loads on its own: one that fails to import is recorded with its
error and skipped, and the host starts without it.

A file in a strategy folder needs no hook: the ``Strategy`` subclasses it
defines are registered for it. It may still implement any hook.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import sys
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
from loguru import logger

from host import hookspecs
from host.hookspecs import PROJECT_NAME, hookimpl
from host.strategy import Strategy

BUILTIN_PLUGINS: tuple[str, ...] = (
    "host.venues.sim",
    "host.venues.bybit",
    "host.venues.ccxt_venue",
    "host.commands",
    "host.marketdata.commands",
    "host.journal_commands",
    "host.emulator.commands",
    "host.backtest.commands",
    "host.estimator_commands",
    "host.backtest.compare_commands",
    "host.backtest.analyze_commands",
)

# Module names of folder plugins live under this prefix, so two files with the
# same stem in different folders never collide in sys.modules.
FOLDER_MODULE_PREFIX = "mmhost_folder_plugins"


@dataclass(slots=True)
class PluginRecord:
    """What `mmhost plugins` shows about one plugin."""

    name: str
    source: str  # builtin | entrypoint | folder
    location: str
    hooks: list[str] = field(default_factory=list)
    strategies: list[str] = field(default_factory=list)
    error: str | None = None
    distribution: str | None = None
    version: str | None = None
    content_hash: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "location": self.location,
            "distribution": self.distribution,
            "version": self.version,
            "hooks": self.hooks,
            "strategies": self.strategies,
            "error": self.error,
        }


class StrategyFilePlugin:
    """Registers the Strategy subclasses a strategies/ file defines."""

    def __init__(self, classes: list[type[Strategy]]) -> None:
        self.classes = classes

    @hookimpl
    def mmhost_register_strategies(self) -> list[type[Strategy]]:
        return list(self.classes)


class HostPluginManager(pluggy.PluginManager):
    """A PluginManager that counts changes to its registrations.

    The engine skips a hot-path hook that has no implementation (a pluggy call
    costs about a microsecond even then); ``generation`` tells it when to look
    again.
    """

    def __init__(self, project_name: str) -> None:
        super().__init__(project_name)
        self.generation = 0

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        registered = super().register(plugin, name)
        self.generation += 1
        return registered

    def unregister(self, plugin: Any = None, name: str | None = None) -> Any:
        removed = super().unregister(plugin, name)
        self.generation += 1
        return removed


class PluginHost:
    """One PluginManager and the record of what was loaded from where."""

    def __init__(self) -> None:
        self.pm = HostPluginManager(PROJECT_NAME)
        self.pm.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []
        self._generation = 0

    # -- loading ------------------------------------------------------------------------

    def load_builtins(self, modules: Iterable[str] = BUILTIN_PLUGINS) -> None:
        for module_name in modules:
            try:
                module = importlib.import_module(module_name)
            except Exception as error:
                self._fail(module_name, "builtin", module_name, error)
                continue
            self.register(module, name=module_name, source="builtin", location=module_name)

    def load_entry_points(self) -> None:
        """Load each ``mmhost`` entry point on its own; a broken one is recorded, not fatal."""
        for entry_point in importlib.metadata.entry_points(group=PROJECT_NAME):
            distribution = entry_point.dist.name if entry_point.dist else None
            version = entry_point.dist.version if entry_point.dist else None
            name = entry_point.name
            if self.pm.get_plugin(name) is not None or self.pm.is_blocked(name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as error:
                self._fail(name, "entrypoint", entry_point.value, error, distribution, version)
                continue
            self.register(
                plugin,
                name=name,
                source="entrypoint",
                location=entry_point.value,
                distribution=distribution,
                version=version,
            )

    def load_folder(self, folder: Path, *, strategies: bool) -> None:
        """Load every ``*.py`` file of ``folder`` (not starting with ``_``) as a plugin."""
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.py")):
            if path.name.startswith("_"):
                continue
            self.load_file(path, strategies=strategies)

    def load_file(self, path: Path, *, strategies: bool) -> PluginRecord:
        name = path.stem
        try:
            source_bytes = path.read_bytes()
            module = import_file(path, f"{FOLDER_MODULE_PREFIX}.{name}")
        except Exception as error:
            return self._fail(name, "folder", str(path), error)
        plugin, companion = plugin_objects(module, strategies=strategies)
        if companion is not None:
            self.pm.register(companion, name=f"{name}:module")
        record = self.register(plugin, name=name, source="folder", location=str(path))
        record.content_hash = hashlib.sha256(source_bytes).hexdigest()
        return record

    # -- hot reload ----------------------------------------------------------------------------

    def prepare_file(self, path: Path, *, strategies: bool) -> PreparedPlugin:
        """Import a new version of a folder plugin and validate it; register nothing.

        The module gets a fresh name (``<stem>__v<n>``) so the running version
        is untouched. Validation happens in a scratch PluginManager: hook names
        and arguments are checked against the specs, and the strategies it
        offers are listed. Raises on any problem.
        """
        source_bytes = path.read_bytes()
        self._generation += 1
        module = import_file(path, f"{FOLDER_MODULE_PREFIX}.{path.stem}__v{self._generation}")
        plugin, companion = plugin_objects(module, strategies=strategies)
        scratch = pluggy.PluginManager(PROJECT_NAME)
        scratch.add_hookspecs(hookspecs)
        if companion is not None:
            scratch.register(companion, name="companion")
        scratch.register(plugin, name="plugin")
        scratch.check_pending()
        classes: list[type[Strategy]] = []
        for offered in scratch.hook.mmhost_register_strategies():
            classes.extend(offered or [])
        return PreparedPlugin(
            name=path.stem,
            path=path,
            module=module,
            plugin=plugin,
            companion=companion,
            strategy_classes=classes,
            content_hash=hashlib.sha256(source_bytes).hexdigest(),
        )

    def swap_in(self, prepared: PreparedPlugin) -> PluginRecord:
        """Replace the registered version of ``prepared.name`` by ``prepared``."""
        for name in (prepared.name, f"{prepared.name}:module"):
            old = self.pm.get_plugin(name)
            if old is not None:
                self.pm.unregister(old, name=name)
        self.records = [r for r in self.records if r.name != prepared.name]
        if prepared.companion is not None:
            self.pm.register(prepared.companion, name=f"{prepared.name}:module")
        record = self.register(
            prepared.plugin, name=prepared.name, source="folder", location=str(prepared.path)
        )
        record.content_hash = prepared.content_hash
        return record

    def record_of(self, name: str) -> PluginRecord | None:
        for record in self.records:
            if record.name == name:
                return record
        return None

    def register(
        self,
        plugin: Any,
        *,
        name: str,
        source: str,
        location: str,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        record = PluginRecord(name, source, location, distribution=distribution, version=version)
        try:
            self.pm.register(plugin, name=name)
        except Exception as error:
            return self._fail(name, source, location, error, distribution, version)
        record.hooks = sorted(caller.name for caller in self.pm.get_hookcallers(plugin) or [])
        register = getattr(plugin, "mmhost_register_strategies", None)
        if register is not None:
            try:
                record.strategies = sorted(cls.name for cls in register() or [])
            except Exception as error:
                self.pm.unregister(plugin)
                return self._fail(name, source, location, error, distribution, version)
        self.records.append(record)
        return record

    def _fail(
        self,
        name: str,
        source: str,
        location: str,
        error: BaseException,
        distribution: str | None = None,
        version: str | None = None,
    ) -> PluginRecord:
        reason = describe_exception(error)
        logger.bind(plugin=name).error(
            "plugin {name} from {location} failed to load: {reason}",
            name=name,
            location=location,
            reason=reason,
        )
        record = PluginRecord(
            name, source, location, error=reason, distribution=distribution, version=version
        )
        self.records.append(record)
        return record

    # -- what the plugins offer ------------------------------------------------------------------

    @property
    def failures(self) -> list[PluginRecord]:
        return [record for record in self.records if record.error]

    def strategies(self) -> dict[str, type[Strategy]]:
        """Registered strategy classes by name; a later plugin wins a name clash."""
        found: dict[str, type[Strategy]] = {}
        for classes in reversed(self.pm.hook.mmhost_register_strategies()):
            for cls in classes or []:
                found[cls.name] = cls
        return found

    def venue_factories(self) -> dict[str, Any]:
        """Venue factories by kind; a later registered plugin wins."""
        found: dict[str, Any] = {}
        for factories in reversed(self.pm.hook.mmhost_register_venues()):
            found.update(factories or {})
        return found

    def fingerprint(self) -> str:
        """A short hash of which plugins run at which version or content hash.

        Stamped on every fill, so a fill can be traced to the code that made it.
        """
        parts = sorted(
            f"{r.name}={r.version or r.content_hash or 'builtin'}"
            for r in self.records
            if not r.error
        )
        return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]

    def missing(self, required: Iterable[str]) -> list[str]:
        loaded = {record.name for record in self.records if not record.error}
        loaded |= {
            record.distribution
            for record in self.records
            if record.distribution and not record.error
        }
        return [name for name in required if name not in loaded]


@dataclass(slots=True)
class PreparedPlugin:
    """A new version of a folder plugin, imported and validated, not yet registered."""

    name: str
    path: Path
    module: ModuleType
    plugin: Any
    companion: Any
    strategy_classes: list[type[Strategy]]
    content_hash: str


def plugin_objects(module: ModuleType, *, strategies: bool) -> tuple[Any, Any]:
    """What to register for a folder module: ``(plugin, companion)``.

    A strategies/ file without its own ``mmhost_register_strategies`` gets a
    StrategyFilePlugin offering its Strategy classes; the module itself is then
    registered beside it (the companion) for any other hooks it implements.
    """
    if strategies and not hasattr(module, "mmhost_register_strategies"):
        classes = strategy_classes_of(module)
        if classes:
            return StrategyFilePlugin(classes), module
    return module, None


def strategy_classes_of(module: ModuleType) -> list[type[Strategy]]:
    """Strategy subclasses defined (not imported) in ``module`` that have a name."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Strategy)
        and value is not Strategy
        and value.__module__ == module.__name__
        and value.name
    ]


def import_file(path: Path, module_name: str) -> ModuleType:
    """Import a source file as a fresh module named ``module_name``.

    The module goes into ``sys.modules`` before it runs: dataclasses and
    pydantic models with string annotations look their module up there.
    """
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module


def describe_exception(error: BaseException) -> str:
    """``SyntaxError: invalid syntax (static_spread.py, line 12)``: one line."""
    if isinstance(error, SyntaxError):
        return f"SyntaxError: {error.msg} ({Path(error.filename or '?').name}, line {error.lineno})"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" ({Path(frames[-1].filename).name}, line {frames[-1].lineno})" if frames else ""
    return f"{type(error).__name__}: {error}{where}"


def build_plugin_host(
    plugin_dirs: Iterable[Path] = (),
    strategy_dirs: Iterable[Path] = (),
    *,
    entry_points: bool = True,
) -> PluginHost:
    """The usual discovery: built-ins, entry points, then the folders."""
    host = PluginHost()
    host.load_builtins()
    if entry_points:
        host.load_entry_points()
    for folder in plugin_dirs:
        host.load_folder(Path(folder), strategies=False)
    for folder in strategy_dirs:
        host.load_folder(Path(folder), strategies=True)
    return host
