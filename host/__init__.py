"""mmhost: a plugin host for crypto market making.

Everything a plugin or strategy imports comes from here.
"""

from host.config import ConfigError, PluginSettings, plugin_settings
from host.hookspecs import hookimpl
from host.models import (
    BookMessage,
    Decision,
    Fill,
    Instrument,
    Level,
    OrderUpdate,
    Quote,
    Side,
    Signal,
    Stop,
    Take,
    Trade,
)
from host.strategy import Context, SignalBoard, Strategy, StrategyParams

__all__ = [
    "BookMessage",
    "ConfigError",
    "Context",
    "Decision",
    "Fill",
    "Instrument",
    "Level",
    "OrderUpdate",
    "PluginSettings",
    "Quote",
    "Side",
    "Signal",
    "SignalBoard",
    "Stop",
    "Strategy",
    "StrategyParams",
    "Take",
    "Trade",
    "hookimpl",
    "plugin_settings",
]

__version__ = "0.1.0"
