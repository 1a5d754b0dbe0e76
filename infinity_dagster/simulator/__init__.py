"""The Infinity call-tracking Reports API as a real HTTP server on loopback.

Used by the tests, the demo and the benchmarks::

    inst = generate_installation(igrp=20001, start=date(2026, 11, 1), end=date(2026, 11, 30))
    with SimulatorServer(inst, api_key="k") as server:
        httpx.get(server.base_url + "/reports/v2.1/igrps/20001/triggers/calls", ...)

Modules: ``schema`` (fields per route), ``installation`` (the typed tables), ``data`` (seeded
generation), ``query`` (the grammar and page selection), ``formats`` (json, jsonarray, csv),
``faults`` (fault injection), ``server`` (HTTP), ``__main__`` (the command line).
"""

from .data import DEMO_IGRP, generate_installation
from .faults import FaultSpec
from .installation import Installation
from .server import (
    DEMO_API_KEY,
    DEMO_PASSWORD,
    DEMO_USERNAME,
    RequestRecord,
    Response,
    SimulatorServer,
)

__all__ = [
    "DEMO_API_KEY",
    "DEMO_IGRP",
    "DEMO_PASSWORD",
    "DEMO_USERNAME",
    "FaultSpec",
    "Installation",
    "RequestRecord",
    "Response",
    "SimulatorServer",
    "generate_installation",
]
