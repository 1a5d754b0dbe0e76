"""The report catalogue: one entry per Infinity report.

An entry says where a report lives (route), which fields to ask for and their Arrow types, whether
it is pulled per day or as a snapshot, and the filters and sort it always carries. Assets, the
client and the storage layer are all driven from here: adding a report is adding an entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import pyarrow as pa

UTC_TIMESTAMP = pa.timestamp("us", tz="UTC")

# Field types used by the wire parser. "timestamp" values are local datetimes in the request's tz,
# stored as UTC; "date" values are YYYY-MM-DD.
FieldType = Literal["int", "str", "bool", "timestamp", "date", "float"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "str": pa.string(),
    "bool": pa.bool_(),
    "timestamp": UTC_TIMESTAMP,
    "date": pa.date32(),
    "float": pa.float64(),
}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    description: str = ""


@dataclass(frozen=True)
class Report:
    """One Infinity report, as the client pulls it and the storage layer lays it out."""

    key: str  # asset key and folder name under raw/
    route: str  # path template below the API root, {version} and {igrp} filled in by the client
    fields: tuple[Field, ...]
    kind: Literal["daily", "snapshot"] = "daily"
    filters: tuple[str, ...] = ()  # fixed filter[] values, e.g. "usageType-eq-value-fixed"
    sort: tuple[str, ...] = ()  # snapshots only: daily reports always page by rowId-asc
    description: str = ""
    cursor_field: str | None = "rowId"
    extra_fields: tuple[Field, ...] = field(default=())

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(f.name, ARROW_TYPES[f.type]) for f in self.fields],
        )

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def with_field_renamed(self, old: str, new: str) -> Report:
        """The same report with one API field name changed (for *assumed* field names)."""
        renamed = tuple(replace(f, name=new) if f.name == old else f for f in self.fields)
        return replace(self, fields=renamed)


CALL_FIELDS: tuple[Field, ...] = (
    Field("rowId", "int", "Row id: unique within the route, increasing as rows are inserted"),
    Field("triggerDatetime", "timestamp", "When the call started (UTC on disk)"),
    Field("igrp", "int", "Installation id"),
    Field("dgrp", "int", "Dial-in group id"),
    Field("dgrpName", "str", "Dial-in group name"),
    Field("vid", "str", "Infinity visitor id; set for calls through a dynamic number"),
    Field("googleCid", "str", "Google Analytics client id captured with the call"),
    Field("href", "str", "Page the visitor was on"),
    Field("vref", "str", "Referring page"),
    Field("dialledPhoneNumber", "str", "Tracking number that was dialled"),
    Field("srcPhoneNumber", "str", "Caller id"),
    Field("destPhoneNumber", "str", "Where the call was forwarded"),
    Field("ch", "int", "Marketing channel id"),
    Field("chName", "str", "Marketing channel name"),
    Field("chType", "str", "Marketing channel type (ppc, seo, direct, ref, ...)"),
    Field("callDuration", "int", "Seconds the caller's leg was answered"),
    Field("ringTime", "int", "Seconds the caller's leg rang"),
    Field("bridgeDuration", "int", "Seconds caller and destination were connected"),
    Field("callState", "str", "Hangup / call-progress state"),
    Field("callStage", "str", "Stage the call reached: bridge, ring, ivr, queue, voicemail"),
    Field("matchRef", "str", "How the call was matched to a visit"),
    Field("matchType", "str", "Match type"),
    Field("segment", "int", "Segment id"),
    Field("orgId", "int", "Organisation id"),
    Field("goal", "int", "Goal reached (0 = none)"),
    Field("goalTitle", "str", "Title of the goal reached"),
    Field("rec", "str", "Recording reference; empty when the call was not recorded"),
    Field("operatorRef", "str", "PBX operator reference"),
    Field("ivrRef", "str", "PBX IVR reference"),
    Field("dialplanRef", "str", "PBX dial plan reference"),
)

CALLS = Report(
    key="calls",
    route="/reports/{version}/igrps/{igrp}/triggers/calls",
    fields=CALL_FIELDS,
    description="Every call of the installation (Infinity triggers/calls): the call log.",
)
