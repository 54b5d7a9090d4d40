"""Deprecated: the simulator's bindings are :mod:`qapigen.simulator_api` now.

``import qapigen_qmp`` and ``import qapigen_qmp.client`` (the old, documented
names) still work and give the very same modules, with a DeprecationWarning.
"""

import importlib
import sys
import warnings

from qapigen import simulator_api

warnings.warn("qapigen_qmp is now qapigen.simulator_api", DeprecationWarning, stacklevel=2)

# The same module objects under the old names, so that classes stay identical.
for _name in ("_builtin", "client", "control", "guest", "introspect", "qapi_schema", "run_state"):
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"qapigen.simulator_api.{_name}")
sys.modules[__name__] = simulator_api
