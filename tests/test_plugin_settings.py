"""Plugin settings: validated with the plugin's model, errors name plugins.<name>.<key>."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field

from host import ConfigError, PluginSettings, plugin_settings
from host.cli import main
from host.config import parse_config
from host.testing import PROJECT_ROOT, config_dict, shipped_config_text


class WallSettings(PluginSettings):
    min_size_lots: int = Field(10, gt=0)


def test_defaults_and_values() -> None:
    config = parse_config(config_dict(plugins={"walls": {"min_size_lots": 30}}))
    assert plugin_settings(config, "walls", WallSettings).min_size_lots == 30
    assert plugin_settings(config, "other", WallSettings).min_size_lots == 10


def test_unknown_key_and_bad_value_name_the_key() -> None:
    config = parse_config(config_dict(plugins={"walls": {"min_size": 30}}))
    with pytest.raises(ConfigError, match=r"unknown key plugins\.walls\.min_size"):
        plugin_settings(config, "walls", WallSettings)
    config = parse_config(config_dict(plugins={"walls": {"min_size_lots": -1}}))
    with pytest.raises(ConfigError, match=r"plugins\.walls\.min_size_lots = -1"):
        plugin_settings(config, "walls", WallSettings)


def test_a_plugin_rejecting_its_settings_at_start_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "walls.py").write_text(
        "from pydantic import Field\n"
        "from host import PluginSettings, hookimpl, plugin_settings\n\n"
        "class WallSettings(PluginSettings):\n"
        "    min_size_lots: int = Field(10, gt=0)\n\n"
        "@hookimpl\n"
        "def mmhost_startup(engine):\n"
        "    plugin_settings(engine.config, 'walls', WallSettings)\n"
    )
    text = shipped_config_text(absolute=False)
    text = text.replace('plugin_dirs = ["plugins"]', f'plugin_dirs = ["{tmp_path}"]')
    text = text.replace(
        'strategy_dirs = ["strategies"]', f'strategy_dirs = ["{PROJECT_ROOT / "strategies"}"]'
    )
    text += "\n[plugins.walls]\nmin_size_lots = 0\n"
    config_path = tmp_path / "config.toml"
    config_path.write_text(text)
    assert main(["run", "--config", str(config_path), "--duration", "1", "--no-log-file"]) == 2
    err = capsys.readouterr().err
    assert "plugins.walls.min_size_lots = 0" in err and "Traceback" not in err
