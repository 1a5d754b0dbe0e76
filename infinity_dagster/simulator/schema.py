"""The fields each simulated route serves: name, stored type and how values travel on the wire.

The simulator keeps values typed (int64, string, UTC timestamp) and decides per field whether a
non-empty value is sent as a JSON number (``145``) or a JSON string (``"145"``), as the real API
mixes both. Missing values always travel as the empty string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

Kind = Literal["int", "str", "datetime"]
Wire = Literal["num", "str"]

TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW = {"int": pa.int64(), "str": pa.string(), "datetime": TIMESTAMP}

# Routes whose rows carry a rowId cursor, a triggerDatetime and an insertion time.
TRIGGER_ROUTES = ("calls", "goals")
ROUTES = ("calls", "goals", "dgrps", "numbers", "organisations")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a route: stored as `kind`; non-empty int values sent as `wire`."""

    name: str
    kind: Kind = "str"
    wire: Wire = "str"

    @property
    def custom(self) -> bool:
        """Custom fields (``pt_…``, ``c_…``) can be displayed but not filtered or sorted."""
        return is_custom(self.name)


def one_chunk(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as one Array, without copying when it already is one chunk."""
    if isinstance(column, pa.Array):
        return column
    if column.num_chunks == 1:
        return column.chunk(0)
    if column.num_chunks == 0:
        return pa.array([], column.type)
    return column.combine_chunks()


def is_custom(name: str) -> bool:
    return name.startswith(("pt_", "c_"))


def _f(name: str, kind: Kind = "str", wire: Wire = "str") -> FieldSpec:
    return FieldSpec(name, kind, wire)


# The wire choices below are the simulator's deterministic "realistic mix": rowId and dgrp travel as
# numbers, igrp, ch, durations and the like as strings, ringTime and goal as numbers.
CALL_FIELDS: tuple[FieldSpec, ...] = (
    _f("rowId", "int", "num"),
    _f("triggerDatetime", "datetime"),
    _f("igrp", "int", "str"),
    _f("dgrp", "int", "num"),
    _f("dgrpName"),
    _f("vid"),
    _f("googleCid"),
    _f("href"),
    _f("vref"),
    _f("dialledPhoneNumber"),
    _f("srcPhoneNumber"),
    _f("destPhoneNumber"),
    _f("ch", "int", "str"),
    _f("chName"),
    _f("chType"),
    _f("callDuration", "int", "str"),
    _f("ringTime", "int", "num"),
    _f("bridgeDuration", "int", "str"),
    _f("callState"),
    _f("callStage"),
    _f("matchRef"),
    _f("matchType"),
    _f("segment", "int", "str"),
    _f("orgId", "int", "str"),
    _f("goal", "int", "num"),
    _f("goalTitle"),
    _f("rec"),
    _f("operatorRef"),
    _f("ivrRef"),
    _f("dialplanRef"),
)

# Goals share the call fields (call fields are empty for a goal that was not a call).
GOAL_FIELDS: tuple[FieldSpec, ...] = CALL_FIELDS

DGRP_FIELDS: tuple[FieldSpec, ...] = (
    _f("igrp", "int", "str"),
    _f("dgrp", "int", "num"),
    _f("dgrpName"),
    _f("autoDiscoveryNumber"),
    _f("destPhoneNumber"),
    _f("dgrpStatus", "int", "num"),
)

NUMBER_FIELDS: tuple[FieldSpec, ...] = (
    _f("igrp", "int", "str"),
    _f("dgrp", "int", "num"),
    _f("dgrpName"),
    _f("number"),
    _f("usageType"),
    _f("ch", "int", "str"),
    _f("chName"),
    _f("chType"),
)

ORGANISATION_FIELDS: tuple[FieldSpec, ...] = (
    _f("orgId", "int", "str"),
    _f("orgName"),
    _f("igrp", "int", "str"),
    _f("parentOrgId", "int", "str"),
    _f("orgRef"),
)

ROUTE_FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "calls": CALL_FIELDS,
    "goals": GOAL_FIELDS,
    "dgrps": DGRP_FIELDS,
    "numbers": NUMBER_FIELDS,
    "organisations": ORGANISATION_FIELDS,
}

# Default order of rows on routes without a rowId (config and organisations).
DEFAULT_ORDER: dict[str, tuple[str, ...]] = {
    "dgrps": ("dgrp",),
    "numbers": ("dgrp", "number"),
    "organisations": ("orgId",),
}
