"""config.toml validation: one-line errors naming file, key path and value; exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from host.cli import main
from host.config import (
    ConfigError,
    Credentials,
    load_config,
    load_credentials,
    parse_config,
)
from host.testing import PROJECT_ROOT, config_dict, shipped_config_text

# The default config replaying in the simulator, folders absolute (works from tmp_path).
GOOD_TOML = shipped_config_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def run_cli_error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = write(tmp_path, text)
    status = main(["run", "--config", str(path), "--no-log-file", "--duration", "1"])
    err = capsys.readouterr().err.strip()
    assert status == 2, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert str(path) in err
    return err


def test_default_config_is_valid() -> None:
    config = load_config(PROJECT_ROOT / "config.toml")
    # make run: Bybit through pybit against the in-process emulator.
    assert config.venues[0].kind == "bybit" and config.venues[0].endpoint == "emulator"
    assert config.strategies[0].name == "static_spread"


def test_unknown_key_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD_TOML.replace("[risk]\n", "[risk]\nmax_leverage = 3\n")
    err = run_cli_error(tmp_path, text, capsys)
    assert "unknown key risk.max_leverage" in err


def test_wrong_type_names_key_value_and_expectation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD_TOML.replace("max_open_orders = 20", 'max_open_orders = "many"')
    err = run_cli_error(tmp_path, text, capsys)
    assert "risk.max_open_orders = 'many'" in err
    assert "integer" in err


def test_missing_strategy_lists_the_registered_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD_TOML.replace('name = "static_spread"', 'name = "no_such_strategy"')
    err = run_cli_error(tmp_path, text, capsys)
    assert "strategies[0].name = 'no_such_strategy': no such strategy" in err
    assert "static_spread" in err


def test_unknown_venue_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD_TOML.replace('kind = "sim"', 'kind = "moon"')
    err = run_cli_error(tmp_path, text, capsys)
    assert "venues[0].kind = 'moon': unknown venue kind" in err


def test_bad_strategy_parameter_names_the_parameter(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = GOOD_TOML.replace("order_size_quote = 1000", "order_size_quote = -5")
    err = run_cli_error(tmp_path, text, capsys)
    assert "strategies[0].params.order_size_quote = -5" in err
    assert "greater than 0" in err


def test_strategy_on_an_unknown_venue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD_TOML.replace('venue = "bybit"', 'venue = "bybit-main"')
    err = run_cli_error(tmp_path, text, capsys)
    assert "strategies[0].venue = 'bybit-main': no such venue" in err


def test_toml_syntax_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = run_cli_error(tmp_path, GOOD_TOML + "\n[host\n", capsys)
    assert "not valid TOML" in err


def test_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["run", "--config", str(tmp_path / "nope.toml"), "--no-log-file"])
    assert status == 2
    assert "file not found" in capsys.readouterr().err


def test_bybit_order_entry_defaults_to_the_trade_socket_and_names_the_key() -> None:
    venue = {"name": "main", "kind": "bybit", "symbols": ["BTCUSDT"]}
    config = parse_config(config_dict(venues=[venue], strategies=[]))
    assert config.venues[0].order_entry == "websocket"
    rest = parse_config(config_dict(venues=[{**venue, "order_entry": "rest"}], strategies=[]))
    assert rest.venues[0].order_entry == "rest"
    with pytest.raises(ConfigError) as caught:
        parse_config(config_dict(venues=[{**venue, "order_entry": "ws"}], strategies=[]))
    message = str(caught.value)
    assert "venues[0].order_entry = 'ws'" in message
    assert "'websocket' or 'rest'" in message


def test_secrets_in_config_are_refused_without_echoing_them() -> None:
    raw = config_dict()
    raw["venues"][0]["api_secret"] = "s3cr3t-value-123"
    with pytest.raises(ConfigError) as caught:
        parse_config(raw)
    message = str(caught.value)
    assert "venues[0].api_secret" in message
    assert "environment" in message
    assert "s3cr3t-value-123" not in message


def test_credentials_come_from_the_environment_and_never_print() -> None:
    venue = parse_config(
        config_dict(
            venues=[{"name": "main", "kind": "bybit", "symbols": ["BTCUSDT"]}], strategies=[]
        )
    ).venues[0]
    environment = {"BYBIT_API_KEY": "key-abcdef", "BYBIT_API_SECRET": "secret-ghijkl"}
    credentials = load_credentials(venue, environment)
    assert isinstance(credentials, Credentials)
    assert credentials.api_secret == "secret-ghijkl"
    assert "secret-ghijkl" not in repr(credentials) and "key-abcdef" not in str(credentials)
    assert load_credentials(venue, {}) is None
    with pytest.raises(ConfigError, match="BYBIT_API_SECRET"):
        load_credentials(venue, {"BYBIT_API_KEY": "key-abcdef"})


def test_ccxt_venue_credentials_use_the_venue_name() -> None:
    venue = parse_config(
        config_dict(
            venues=[
                {"name": "okx-spot", "kind": "ccxt", "exchange": "okx", "symbols": ["BTCUSDT"]}
            ],
            strategies=[],
        )
    ).venues[0]
    environment = {"MMHOST_OKX_SPOT_API_KEY": "k" * 8, "MMHOST_OKX_SPOT_API_SECRET": "s" * 8}
    credentials = load_credentials(venue, environment)
    assert credentials is not None and credentials.api_key == "k" * 8


def test_duplicate_strategy_ids_are_refused() -> None:
    raw = config_dict()
    raw["strategies"].append(dict(raw["strategies"][0]))
    with pytest.raises(ConfigError, match=r"strategies\[1\]\.id"):
        parse_config(raw)
