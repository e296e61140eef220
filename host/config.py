"""config.toml, validated by pydantic models; secrets from the environment.

Every error names the file, the key path (``strategies[0].params.spread_bps``),
the value and what was expected, in one line. The CLI turns a ConfigError into
exit status 2 with no traceback.

Secrets never live in config.toml: ``BYBIT_API_KEY`` / ``BYBIT_API_SECRET``
for Bybit venues, ``MMHOST_<VENUE>_API_KEY`` / ``MMHOST_<VENUE>_API_SECRET``
for ccxt venues (``<VENUE>`` is the venue's name, upper-cased).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

SECRET_KEY_NAMES = frozenset({"api_key", "api_secret", "secret", "password", "apikey", "key"})


class ConfigError(Exception):
    """A config file that cannot be used, with a one-line reason."""


class StrictModel(BaseModel):
    """Unknown keys fail, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def _empty_path_is_none(value: object) -> object:
    """An empty string in a path setting means "off"."""
    return None if value == "" else value


class HostSection(StrictModel):
    """The [host] table: how this process runs."""

    mode: Literal["paper", "live", "backtest"] = Field(
        "paper",
        description="paper: simulated fills on a real or replayed feed; live: real orders; "
        "backtest: recorded data, simulated clock, never a socket.",
    )
    desk: str = Field(
        "mm",
        pattern=r"^[A-Za-z0-9]{1,8}$",
        description="Prefix of every client order id of this desk (1-8 letters or digits); "
        "cancel-all and reconciliation touch only ids with this prefix.",
    )
    data_dir: Path = Field(Path("var/data"), description="Where recordings and caches go.")
    log_dir: Path = Field(Path("var/log"), description="JSON-lines log files.")
    journal: Path | None = Field(
        Path("var/journal.db"),
        description="The sqlite journal of orders, fills, positions and state; an empty "
        "string turns journaling off (not advised outside tests and backtests).",
    )
    log_level: Literal["TRACE", "DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Console log level; the JSON file always gets DEBUG and above."
    )
    plugin_dirs: list[Path] = Field(
        [Path("plugins")], description="Folders whose *.py files are loaded as plugins."
    )
    strategy_dirs: list[Path] = Field(
        [Path("strategies")], description="Folders whose *.py files may define strategies."
    )
    required_plugins: list[str] = Field(
        [], description="Plugin names the host refuses to start without."
    )
    hot_reload: bool = Field(
        True,
        description="Watch the plugin and strategy folders and swap a saved file into the "
        "running host (never in backtest mode, which must be deterministic).",
    )
    speed: float | Literal["max"] = Field(
        "max",
        description="Replay speed factor (1 = real time, 'max' = as fast as the host keeps up); "
        "ignored live.",
    )
    duration_s: float | None = Field(
        None, description="Stop after this many seconds (market time when replaying)."
    )

    @field_validator("journal", mode="before")
    @classmethod
    def _empty_journal_is_none(cls, value: object) -> object:
        return _empty_path_is_none(value)

    @field_validator("speed")
    @classmethod
    def _positive_speed(cls, value: float | str) -> float | str:
        if isinstance(value, float | int) and value <= 0:
            raise ValueError("must be > 0 or 'max'")
        return value


class VenueSection(StrictModel):
    """One [[venues]] entry."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Name strategies refer to.")
    kind: str = Field(description="Venue kind: sim, bybit or ccxt (or one a plugin registers).")
    symbols: list[str] = Field(min_length=1, description="Symbols traded or watched here.")
    market: str = Field(
        "bybit-linear",
        description="Instrument table for tick and lot sizes: bybit-linear, bybit-spot, "
        "binance-usdm, binance-spot.",
    )
    data: list[str] = Field(
        [],
        description="Recording files replayed as this venue's market (sim only), in order, "
        "as one stream. 'bundled:' refers to files shipped in host/data.",
    )
    maker_fee_bps: Decimal = Field(Decimal("1"), description="Maker fee; negative is a rebate.")
    taker_fee_bps: Decimal = Field(Decimal("5.5"), ge=0, description="Taker fee.")
    order_latency_ms: float = Field(
        5.0, ge=0, description="One-way latency of an order message to the venue (sim)."
    )
    response_latency_ms: float = Field(
        5.0, ge=0, description="One-way latency of the venue's answer back to us (sim)."
    )
    queue_model: Literal["risk_averse", "probabilistic"] = Field(
        "probabilistic", description="How cancellations ahead of our order advance it (sim)."
    )
    balance_quote: Decimal | None = Field(
        None, description="Starting quote balance (sim); none means unlimited."
    )
    funding_rate_bps: Decimal | None = Field(
        None,
        description="Perpetual funding rate the simulator charges at 00:00, 08:00 and 16:00 "
        "UTC (exchange time) on the position's value at mid; positive: longs pay shorts. "
        "None: no funding.",
    )
    exchange: str | None = Field(None, description="ccxt exchange id (kind = ccxt only).")
    testnet: bool = Field(False, description="Use the venue's testnet (ccxt).")
    endpoint: str = Field(
        "mainnet",
        description="Where a bybit venue connects: mainnet, testnet, demo, emulator (an "
        "in-process loopback emulator replaying this venue's data), or an http://127.0.0.1:PORT "
        "address of a running `mmhost emulator`.",
    )
    category: Literal["linear", "spot", "inverse"] = Field(
        "linear", description="Bybit product category of this venue's symbols."
    )
    orderbook_depth: Literal[1, 50, 200, 1000] = Field(
        50, description="Order-book depth to subscribe to (bybit: orderbook.N)."
    )
    request_timeout_ms: int = Field(
        3000,
        gt=0,
        description="An order request unanswered after this is in an unknown state "
        "until the venue is queried.",
    )
    dcp_window_s: int = Field(
        10, ge=3, le=300, description="Bybit Disconnect-Cancel-All window in live mode."
    )
    order_entry: Literal["websocket", "rest"] = Field(
        "websocket",
        description="How a bybit venue sends orders: websocket (the trade socket; REST while "
        "it is down, and on an endpoint without one, such as demo) or rest.",
    )

    @field_validator("symbols")
    @classmethod
    def _upper_symbols(cls, symbols: list[str]) -> list[str]:
        return [symbol.upper() for symbol in symbols]


class StrategySection(StrictModel):
    """One [[strategies]] entry."""

    name: str = Field(description="A registered strategy (see `mmhost plugins`).")
    id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9_]{1,16}$",
        description="Instance id, unique per config; defaults to the strategy name.",
    )
    venue: str = Field(description="Name of a [[venues]] entry.")
    symbol: str = Field(description="A symbol that venue lists.")
    params: dict[str, Any] = Field({}, description="The strategy's own parameters.")
    watch: list[str] = Field(
        [],
        description='Other instruments the strategy sees and may trade, as "venue:SYMBOL" '
        "(arbitrage and hedging legs).",
    )

    @property
    def watched(self) -> list[tuple[str, str]]:
        return [(item.split(":", 1)[0], item.split(":", 1)[1].upper()) for item in self.watch]

    @property
    def instance_id(self) -> str:
        return self.id or self.name


class RiskSection(StrictModel):
    """The [risk] table: limits every decision must respect."""

    max_order_quote: Decimal = Field(
        Decimal("5000"), gt=0, description="Largest single order, in quote currency."
    )
    max_position_quote: Decimal = Field(
        Decimal("20000"), gt=0, description="Largest absolute position per symbol, quote currency."
    )
    price_band_bps: Decimal = Field(
        Decimal("500"), gt=0, description="Orders further than this from mid are refused."
    )
    max_open_orders: int = Field(50, gt=0, description="Per strategy.")
    max_position_asset_quote: Decimal | None = Field(
        None,
        gt=0,
        description="Largest absolute position per base asset summed across venues, quote "
        "currency (arbitrage legs on several venues count together).",
    )
    max_drawdown_quote: Decimal | None = Field(
        None, gt=0, description="Halt and cancel all when net PnL falls this far from its peak."
    )
    daily_loss_limit_quote: Decimal | None = Field(
        None, gt=0, description="Halt and cancel all when today's (UTC) net PnL loss exceeds this."
    )
    flatten_on_halt: bool = Field(
        False, description="On a halt or the kill switch, also close positions with market orders."
    )
    max_spread_bps: Decimal | None = Field(
        None, gt=0, description="Breaker: pause an instrument while its spread is wider."
    )
    max_mid_move_bps: Decimal | None = Field(
        None,
        gt=0,
        description="Breaker: pause an instrument when mid moves more than this "
        "within mid_move_window_ms (volatility spike).",
    )
    mid_move_window_ms: int = Field(1000, gt=0, description="Window of the volatility breaker.")
    stale_book_ms: int = Field(
        5000,
        gt=0,
        description="Breaker: pause an instrument whose book has not updated for this long.",
    )
    max_rejects: int = Field(
        10, ge=0, description="Breaker: pause all quoting after more rejects than this..."
    )
    max_disconnects: int = Field(
        3,
        ge=0,
        description="Breaker: pause all quoting after more venue disconnects than "
        "this within reject_window_s.",
    )
    reject_window_s: float = Field(
        60, gt=0, description="Window of the reject and disconnect breakers, seconds."
    )
    breaker_cooldown_s: float = Field(
        30, ge=0, description="A breaker resets after its condition has been clear this long."
    )
    kill_file: Path | None = Field(
        Path("var/KILL"),
        description="When this file appears, cancel everything and stop (`mmhost kill` writes "
        "it); an empty string turns the file off (SIGUSR1 still works).",
    )

    @field_validator("kill_file", mode="before")
    @classmethod
    def _empty_kill_file_is_none(cls, value: object) -> object:
        return _empty_path_is_none(value)


class OmsSection(StrictModel):
    """The [oms] table: how Decisions become orders."""

    amend: bool = Field(
        True,
        description="Move a resting order with an amend where the venue allows it, instead of "
        "cancel + new (one message, same id).",
    )
    price_tolerance_ticks: int = Field(
        0, ge=0, description="Keep a resting order whose price is this close to the quote's."
    )
    size_tolerance_lots: int = Field(
        0, ge=0, description="Keep a resting order whose size is this close to the quote's."
    )


class Config(StrictModel):
    """The whole of config.toml."""

    host: HostSection = HostSection()
    venues: list[VenueSection] = Field(min_length=1)
    strategies: list[StrategySection] = []
    risk: RiskSection = RiskSection()
    oms: OmsSection = OmsSection()
    plugins: dict[str, dict[str, Any]] = Field(
        {},
        description="Settings of plugins by plugin name ([plugins.imbalance] levels = 5); "
        "each plugin reads and validates its own table.",
    )
    source: Path | None = Field(None, exclude=True, description="Where it was read from.")

    def venue(self, name: str) -> VenueSection:
        for venue in self.venues:
            if venue.name == name:
                return venue
        raise KeyError(name)


def load_config(path: Path | str) -> Config:
    """Read, parse and validate a config file; raise ConfigError on any problem."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    return parse_config(raw, source=path)


def parse_config(raw: Mapping[str, Any], *, source: Path | str = "<config>") -> Config:
    """Validate an already-parsed config mapping."""
    _refuse_secrets(raw, source)
    try:
        config = Config.model_validate({**raw, "source": Path(source)})
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error, source)) from None
    _check_references(config, source)
    return config


def describe_validation_error(
    error: ValidationError, source: Path | str, prefix: Sequence[str | int] = ()
) -> str:
    """One line: file, key path, value, expectation (first error; count of the rest)."""
    first = error.errors(include_url=False)[0]
    location = format_key_path([*prefix, *first["loc"]])
    if first["type"] == "extra_forbidden":
        message = f"{source}: unknown key {location}"
    elif first["type"] == "missing":
        message = f"{source}: missing key {location}"
    else:
        message = f"{source}: {location} = {first.get('input')!r}: {first['msg']}"
    more = error.error_count() - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return message


def format_key_path(location: Sequence[str | int]) -> str:
    """``("strategies", 1, "params", "spread_bps")`` -> ``strategies[1].params.spread_bps``."""
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<root>"


def _refuse_secrets(raw: Mapping[str, Any], source: Path | str) -> None:
    """A key that looks like a secret gets a pointed message, not 'unknown key'.

    The value is never echoed.
    """
    for index, venue in enumerate(raw.get("venues", []) or []):
        if not isinstance(venue, Mapping):
            continue
        for key in venue:
            if key.lower() in SECRET_KEY_NAMES:
                raise ConfigError(
                    f"{source}: venues[{index}].{key}: secrets are not read from config files; "
                    "set BYBIT_API_KEY / BYBIT_API_SECRET or MMHOST_<VENUE>_API_KEY / "
                    "MMHOST_<VENUE>_API_SECRET in the environment"
                )


def _check_references(config: Config, source: Path | str) -> None:
    names = [venue.name for venue in config.venues]
    for index, name in enumerate(names):
        if name in names[:index]:
            raise ConfigError(f"{source}: venues[{index}].name = {name!r}: duplicate venue name")
    seen_ids: set[str] = set()
    for index, strategy in enumerate(config.strategies):
        key = f"strategies[{index}]"
        if strategy.venue not in names:
            raise ConfigError(
                f"{source}: {key}.venue = {strategy.venue!r}: no such venue; "
                f"expected one of {names}"
            )
        venue = config.venue(strategy.venue)
        if strategy.symbol.upper() not in venue.symbols:
            raise ConfigError(
                f"{source}: {key}.symbol = {strategy.symbol!r}: venue {venue.name!r} lists "
                f"{venue.symbols}"
            )
        for watch_index, item in enumerate(strategy.watch):
            watch_venue, _, watch_symbol = item.partition(":")
            if watch_venue not in names or not watch_symbol:
                raise ConfigError(
                    f"{source}: {key}.watch[{watch_index}] = {item!r}: expected "
                    f'"venue:SYMBOL" with a venue of {names}'
                )
            if watch_symbol.upper() not in config.venue(watch_venue).symbols:
                raise ConfigError(
                    f"{source}: {key}.watch[{watch_index}] = {item!r}: venue {watch_venue!r} "
                    f"lists {config.venue(watch_venue).symbols}"
                )
        if strategy.instance_id in seen_ids:
            raise ConfigError(
                f"{source}: {key}.id = {strategy.instance_id!r}: duplicate strategy id; "
                "give each [[strategies]] entry its own id"
            )
        seen_ids.add(strategy.instance_id)


class PluginSettings(StrictModel):
    """Base of a plugin's ``[plugins.<name>]`` table: frozen, unknown keys fail."""


SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


def plugin_settings(config: Config, name: str, model: type[SettingsModel]) -> SettingsModel:
    """Validate ``[plugins.<name>]`` with ``model``; a bad table raises ConfigError
    naming ``plugins.<name>.<key>`` (the CLI turns it into exit status 2)."""
    raw = config.plugins.get(name, {})
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(
            describe_validation_error(error, config.source or "<config>", ("plugins", name))
        ) from None


class Credentials:
    """An API key pair read from the environment. Its repr never shows either part."""

    __slots__ = ("api_key", "api_secret")

    def __init__(self, api_key: str, api_secret: str) -> None:
        self.api_key = api_key
        self.api_secret = api_secret

    def __repr__(self) -> str:
        return "Credentials(api_key=<redacted>, api_secret=<redacted>)"

    __str__ = __repr__


def credential_variables(venue: VenueSection) -> tuple[str, str]:
    """Names of the environment variables holding this venue's key and secret."""
    if venue.kind == "bybit":
        return "BYBIT_API_KEY", "BYBIT_API_SECRET"
    stem = venue.name.upper().replace("-", "_")
    return f"MMHOST_{stem}_API_KEY", f"MMHOST_{stem}_API_SECRET"


def load_credentials(
    venue: VenueSection, environ: Mapping[str, str] | None = None
) -> Credentials | None:
    """The venue's keys from the environment, or None when neither is set.

    One set without the other is a ConfigError naming the missing variable.
    """
    environ = os.environ if environ is None else environ
    key_name, secret_name = credential_variables(venue)
    api_key, api_secret = environ.get(key_name), environ.get(secret_name)
    if not api_key and not api_secret:
        return None
    if not api_key or not api_secret:
        missing = key_name if not api_key else secret_name
        raise ConfigError(f"venue {venue.name!r}: environment variable {missing} is not set")
    return Credentials(api_key, api_secret)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret-looking value in the environment, for log redaction."""
    environ = os.environ if environ is None else environ
    return [
        value
        for name, value in environ.items()
        if value
        and len(value) >= 6
        and (
            name.endswith(("_API_KEY", "_API_SECRET", "_PASSWORD")) or name.startswith("BYBIT_API")
        )
    ]
