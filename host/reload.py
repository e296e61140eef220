"""Hot reload: a saved strategy or plugin file runs in the host within a
fraction of a second, with its state and orders carried over; a broken save
never stops trading.

Protocol (one reload, on the engine's thread, between two events):
1. watchfiles reports a change; the content hash decides whether it is one
   (an atomic save is a delete + add; an editor touching a file is not a change).
2. The new file is imported under a fresh module name and checked in a
   scratch PluginManager; each affected strategy gets a new instance built
   from its config params. Any failure: the old version keeps running, the
   failure is logged and counted.
3. For each affected strategy: fills and order updates are buffered,
   ``on_save()`` of the old instance goes into ``on_load()`` of the new one,
   then the new ``on_start()``. If the new one raises, the old one stays.
4. Registrations are swapped, buffered events are delivered to the new
   version, ``mmhost_plugin_reloaded`` fires.

Resting orders belong to the strategy id, not the instance, so the new
version's first Decision is diffed against them: nothing is orphaned.

A risk plugin that fails to reload pauses quoting until a good version loads:
its old version might be the reason for the edit.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger
from pydantic import ValidationError

from host.config import ConfigError, describe_validation_error, load_config
from host.plugins import PreparedPlugin, describe_exception

if TYPE_CHECKING:
    from host.engine import Engine, StrategySlot
    from host.strategy import Strategy

# watchfiles polls the OS queue every STEP and batches changes for up to
# DEBOUNCE; both are small because the goal is < 250 ms from save to decision.
WATCH_STEP_MS = 20
WATCH_DEBOUNCE_MS = 60
# A save caught half-written usually fails to compile; look again after this.
RETRY_AFTER_S = 0.15
# How often watchfiles yields when nothing changed; the first yield means "watching".
WATCH_READY_TIMEOUT_MS = 100
RISK_HOOK = "mmhost_check_decision"


@dataclass(frozen=True, slots=True)
class ReloadOutcome:
    """What one reload attempt did, for the journal, metrics and tests."""

    name: str
    path: str
    content_hash: str
    ok: bool
    duration_ms: float
    swapped: tuple[str, ...] = ()
    error: str | None = None
    not_applied: tuple[str, ...] = ()


@dataclass(slots=True)
class WatchedFolder:
    path: Path
    strategies: bool


@dataclass(slots=True)
class HotReloader:
    """Watches plugin and strategy folders and swaps changed files into ``engine``."""

    engine: Engine
    folders: list[WatchedFolder]
    config_path: Path | None = None
    outcomes: list[ReloadOutcome] = field(default_factory=list)
    failures: int = 0
    _loaded_hashes: dict[Path, str] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _ready: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _risk_broken: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        for record in self.engine.plugins.records:
            if record.source == "folder" and record.content_hash:
                self._loaded_hashes[Path(record.location).resolve()] = record.content_hash

    # -- the watcher thread -------------------------------------------------------------

    def start(self, ready_timeout_s: float = 5.0) -> None:
        """Start watching; returns once the watcher runs (or after the timeout)."""
        folders: list[Path] = [f.path for f in self.folders if f.path.is_dir()]
        if self.config_path is not None:
            folders.append(self.config_path)
        if not folders or self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._watch, args=(folders,), name="mmhost-reload", daemon=True
        )
        self._thread.start()
        self._ready.wait(ready_timeout_s)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _watch(self, folders: list[Path]) -> None:
        import watchfiles

        for changes in watchfiles.watch(
            *folders,
            watch_filter=self._wanted,
            step=WATCH_STEP_MS,
            debounce=WATCH_DEBOUNCE_MS,
            stop_event=self._stop,
            raise_interrupt=False,
            # An empty yield on each timeout tells us the watcher is running.
            yield_on_timeout=True,
            rust_timeout=WATCH_READY_TIMEOUT_MS,
        ):
            detected = time.monotonic()
            if not self._ready.is_set():
                # A save made while the watcher was starting raised no event:
                # compare every file with what was loaded, once, now that it runs.
                self._ready.set()
                for folder in self.folders:
                    for path in sorted(folder.path.glob("*.py")):
                        self.notice(path, detected)
            for path_text in sorted({path for _, path in changes}):
                self.notice(Path(path_text), detected)

    def _wanted(self, _change: object, path: str) -> bool:
        if path.endswith(".py"):
            return True
        return self.config_path is not None and Path(path).resolve() == self.config_path.resolve()

    def notice(self, path: Path, detected_monotonic: float | None = None) -> None:
        """A file may have changed: hand a reload to the engine thread if its bytes did."""
        path = path.resolve()
        if self.config_path is not None and path == self.config_path.resolve():
            detected = time.monotonic() if detected_monotonic is None else detected_monotonic
            self.engine.call_soon_threadsafe(lambda: self.reload_config(path, detected))
            return
        folder = self._folder_of(path)
        if folder is None or path.name.startswith("_"):
            return
        try:
            content_hash = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            return  # the delete half of an atomic save; the add follows
        if self._loaded_hashes.get(path) == content_hash:
            return
        detected = time.monotonic() if detected_monotonic is None else detected_monotonic
        self.engine.call_soon_threadsafe(lambda: self.reload(path, folder.strategies, detected))

    def _folder_of(self, path: Path) -> WatchedFolder | None:
        for folder in self.folders:
            if path.parent == folder.path.resolve():
                return folder
        return None

    # -- the swap, on the engine thread ----------------------------------------------------------

    def reload(self, path: Path, strategies: bool, detected_monotonic: float) -> ReloadOutcome:
        engine = self.engine
        name = path.stem
        try:
            prepared = engine.plugins.prepare_file(path, strategies=strategies)
        except FileNotFoundError:
            return self._failed(name, path, "", detected_monotonic, "file vanished")
        except SyntaxError as error:
            # Probably caught mid-write: look again shortly, keep the old version meanwhile.
            threading.Timer(RETRY_AFTER_S, self.notice, args=(path,)).start()
            return self._failed(name, path, "", detected_monotonic, describe_exception(error))
        except Exception as error:
            return self._failed(name, path, "", detected_monotonic, describe_exception(error))
        if prepared.content_hash == self._loaded_hashes.get(path):
            return ReloadOutcome(name, str(path), prepared.content_hash, True, 0.0)

        slots = self._affected_slots(prepared)
        try:
            replacements = [(slot, self._new_instance(slot, prepared)) for slot in slots]
        except Exception as error:
            error_text = describe_exception(error)
        else:
            error_text = self.swap_instances(replacements, prepared.content_hash)
        if error_text is not None:
            return self._failed(name, path, prepared.content_hash, detected_monotonic, error_text)
        swapped = [slot.strategy_id for slot in slots]

        engine.plugins.swap_in(prepared)
        self._loaded_hashes[path] = prepared.content_hash
        duration_ms = (time.monotonic() - detected_monotonic) * 1000
        outcome = ReloadOutcome(
            name, str(path), prepared.content_hash, True, duration_ms, tuple(swapped)
        )
        self.outcomes.append(outcome)
        if name in self._risk_broken:
            # Each broken risk plugin holds its own pause reason; lift only this one.
            self._risk_broken.discard(name)
            engine.resume(risk_pause_reason(name))
        logger.bind(plugin=name, path=str(path)).info(
            "reloaded {plugin} in {duration_ms:.1f} ms; strategies swapped: {swapped}",
            plugin=name,
            duration_ms=duration_ms,
            swapped=swapped,
        )
        engine.hook.mmhost_plugin_reloaded(
            name=name, path=str(path), content_hash=prepared.content_hash, duration_ms=duration_ms
        )
        return outcome

    def reload_config(self, path: Path, detected_monotonic: float) -> ReloadOutcome:
        """Apply what can change live (strategy params, risk limits); report the rest.

        Nothing is half-applied: a params error in any strategy rejects the
        whole reload and the running config stays.
        """
        engine = self.engine
        old = engine.config
        try:
            new = load_config(path)
        except ConfigError as error:
            return self._failed("config", path, "", detected_monotonic, str(error))
        not_applied = [
            f"{section} changed (restart to apply)"
            for section in ("host", "venues", "plugins")
            if getattr(new, section) != getattr(old, section)
        ]
        old_strategies = {s.instance_id: s for s in old.strategies}
        new_strategies = {s.instance_id: s for s in new.strategies}
        for added in new_strategies.keys() - old_strategies.keys():
            not_applied.append(f"strategy {added} added (restart to apply)")
        for removed in old_strategies.keys() - new_strategies.keys():
            not_applied.append(f"strategy {removed} removed (restart to apply)")
        replacements: list[tuple[StrategySlot, Strategy]] = []
        kept_sections = list(old.strategies)
        for index, section in enumerate(new.strategies):
            previous = old_strategies.get(section.instance_id)
            if previous is None or previous.params == section.params:
                continue
            if (previous.name, previous.venue, previous.symbol) != (
                section.name,
                section.venue,
                section.symbol,
            ):
                not_applied.append(
                    f"strategy {section.instance_id}: name, venue or symbol changed "
                    "(restart to apply)"
                )
                continue
            slot = engine.slots[section.instance_id]
            strategy_class = type(slot.strategy)
            try:
                params = strategy_class.Params.model_validate(section.params)
            except ValidationError as error:
                reason = describe_validation_error(error, path, ("strategies", index, "params"))
                return self._failed("config", path, "", detected_monotonic, reason)
            replacements.append((slot, strategy_class(slot.ctx, params)))
            kept_sections[kept_sections.index(previous)] = section
        error_text = self.swap_instances(replacements)
        if error_text is not None:
            return self._failed("config", path, "", detected_monotonic, error_text)
        for slot, _ in replacements:
            slot.params_raw = dict(
                next(s for s in new.strategies if s.instance_id == slot.strategy_id).params
            )
        if new.risk != old.risk:
            risk_rules = engine.plugins.pm.get_plugin("builtin-risk")
            if risk_rules is not None:
                risk_rules.limits = new.risk
        engine.config = old.model_copy(update={"risk": new.risk, "strategies": kept_sections})
        duration_ms = (time.monotonic() - detected_monotonic) * 1000
        for item in not_applied:
            logger.warning("config reload: not applied: {item}", item=item)
        outcome = ReloadOutcome(
            "config",
            str(path),
            "",
            True,
            duration_ms,
            tuple(slot.strategy_id for slot, _ in replacements),
            not_applied=tuple(not_applied),
        )
        self.outcomes.append(outcome)
        return outcome

    def swap_instances(
        self, replacements: list[tuple[StrategySlot, Strategy]], content_hash: str | None = None
    ) -> str | None:
        """Hand each slot's state to its new instance and install them all, or none.

        Phase one: every new instance takes its state and starts while nothing
        is installed, so a failure anywhere leaves every old instance running
        untouched. Phase two: install, act on what the new versions decided at
        start, deliver what was buffered. Returns None, or why it failed.
        """
        engine = self.engine
        decisions = []
        for slot, _ in replacements:
            slot.swapping = True
        try:
            for slot, new in replacements:
                new.on_load(slot.strategy.on_save())
                decisions.append(new.on_start())
        except Exception as error:
            for slot, _ in replacements:
                slot.swapping = False
                engine.flush_buffered(slot)
            return describe_exception(error)
        for slot, new in replacements:
            slot.strategy = new
            slot.swapping = False
            if content_hash is not None:
                slot.content_hash = content_hash
        for (slot, _), decision in zip(replacements, decisions, strict=True):
            if decision is not None and not slot.paused:
                engine.apply_decision(slot, decision)
            engine.flush_buffered(slot)
        return None

    def _affected_slots(self, prepared: PreparedPlugin) -> list[StrategySlot]:
        names = {cls.name for cls in prepared.strategy_classes}
        return [slot for slot in self.engine.slots.values() if slot.strategy.name in names]

    def _new_instance(self, slot: StrategySlot, prepared: PreparedPlugin) -> Strategy:
        (strategy_class,) = [
            cls for cls in prepared.strategy_classes if cls.name == slot.strategy.name
        ]
        params = strategy_class.Params.model_validate(slot.params_raw)
        return strategy_class(slot.ctx, params)

    def _failed(
        self,
        name: str,
        path: Path,
        content_hash: str,
        detected_monotonic: float,
        error: str,
    ) -> ReloadOutcome:
        self.failures += 1
        duration_ms = (time.monotonic() - detected_monotonic) * 1000
        outcome = ReloadOutcome(name, str(path), content_hash, False, duration_ms, error=error)
        self.outcomes.append(outcome)
        logger.bind(plugin=name, path=str(path)).error(
            "reload of {plugin} failed, the previous version keeps running: {error}",
            plugin=name,
            error=error,
        )
        if self._is_risk_plugin(name) and name not in self._risk_broken:
            self._risk_broken.add(name)
            self.engine.pause(risk_pause_reason(name))
        return outcome

    def _is_risk_plugin(self, name: str) -> bool:
        plugin = self.engine.plugins.pm.get_plugin(name)
        return plugin is not None and hasattr(plugin, RISK_HOOK)


def risk_pause_reason(plugin_name: str) -> str:
    return f"risk plugin {plugin_name} failed to reload"


def watched_folders(
    plugin_dirs: Iterable[Path], strategy_dirs: Iterable[Path]
) -> list[WatchedFolder]:
    return [WatchedFolder(Path(p), False) for p in plugin_dirs] + [
        WatchedFolder(Path(p), True) for p in strategy_dirs
    ]
