"""Pure functions of the analyzer modules, imported by file for unit tests.

Plugins are not a package (the host loads them by file), so tests reach a
module's plain functions through the same loader.
"""

from __future__ import annotations

from host.plugins import import_file
from host.testing import PROJECT_ROOT

_order_flow = import_file(PROJECT_ROOT / "plugins" / "order_flow.py", "plugins_under_test_ofi")
ofi_contribution = _order_flow.ofi_contribution
