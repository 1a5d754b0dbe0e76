"""The code location Dagster loads (`dagster dev`, `dagster asset materialize -m ...`).

Configuration comes from the environment (see the README); a missing or invalid variable stops
the load here, before any request, with one sentence saying what to set.
"""

from .defs import build_definitions
from .settings import Settings

settings = Settings.from_env()
defs = build_definitions(settings)
