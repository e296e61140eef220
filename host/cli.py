"""The ``mmhost`` command.

Sub-commands are plugins: the built-in ones live in ``host.commands`` and
other rooms, and an installed plugin package may add its own through
``mmhost_register_commands``. Exit status: 0 ok, 1 failure, 2 usage or
config error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from enum import IntEnum

from host.plugins import PluginHost


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1
    USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its one-line message."""


def build_parser(plugins: PluginHost | None = None) -> argparse.ArgumentParser:
    if plugins is None:
        plugins = PluginHost()
        plugins.load_builtins()
        plugins.load_entry_points()
    parser = _Parser(
        prog="mmhost",
        description="A plugin host for crypto market making: exact books, honest simulation, "
        "hot-reloaded strategies.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    plugins.pm.hook.mmhost_register_commands(subparsers=subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
