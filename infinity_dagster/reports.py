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
    name: str  # the column name on disk and in DuckDB
    type: FieldType
    description: str = ""
    # The API's name when it differs (a user's INFINITY_<REPORT>_FIELD_NAMES): asked for as
    # display[]=<api_name>-<name>, so the API sends it under our name and the schema never moves.
    api_name: str | None = None

    @property
    def display(self) -> str:
        return f"{self.api_name}-{self.name}" if self.api_name else self.name


@dataclass(frozen=True)
class Report:
    """One Infinity report, as the client pulls it and the storage layer lays it out."""

    key: str  # asset key and folder name under raw/
    # Path template below the API root, {version} and {igrp} filled in by the client. It may carry
    # a query string, sent before the report's own parameters: Infinity's "API Reports" guide
    # repeats the installation as `?igrp=` ("for this to work", with format=csv), so every entry
    # does; the API ignores it when it matches the path.
    route: str
    fields: tuple[Field, ...]
    kind: Literal["daily", "snapshot"] = "daily"
    filters: tuple[str, ...] = ()  # fixed filter[] values, e.g. "usageType-eq-value-fixed"
    sort: tuple[str, ...] = ()  # snapshots only: daily reports always page by rowId-asc
    description: str = ""
    cursor_field: str | None = "rowId"
    extra_fields: tuple[Field, ...] = field(default=())
    # Fields a user may narrow the report by (INFINITY_<KEY>_FILTERS, e.g. "ch=1,segment=2").
    user_filter_fields: tuple[str, ...] = ()

    @property
    def route_variable(self) -> str:
        """The environment variable that overrides this report's route."""
        return f"INFINITY_{self.key.upper()}_ROUTE"

    @property
    def field_names_variable(self) -> str:
        """The environment variable mapping this report's fields to the API's names."""
        return f"INFINITY_{self.key.upper()}_FIELD_NAMES"

    @property
    def filters_variable(self) -> str:
        """The environment variable holding a user's filters for this report."""
        return f"INFINITY_{self.key.upper()}_FILTERS"

    @property
    def schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(f.name, ARROW_TYPES[f.type]) for f in self.fields],
        )

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def display_fields(self) -> list[str]:
        """The display[] values: field names, aliased where the API names a field differently."""
        return [f.display for f in self.fields]

    def with_api_names(self, api_names: dict[str, str]) -> Report:
        """The same report asking the API for some fields under other names (same schema).

        Fixed filters and sort name API fields, so they follow the new names too.
        """
        if not api_names:
            return self
        fields = tuple(
            replace(f, api_name=api_names[f.name]) if f.name in api_names else f
            for f in self.fields
        )

        def rename(expr: str) -> str:
            name, sep, rest = expr.partition("-")
            return f"{api_names.get(name, name)}{sep}{rest}"

        return replace(
            self,
            fields=fields,
            filters=tuple(rename(f) for f in self.filters),
            sort=tuple(rename(s) for s in self.sort),
        )

    def with_field_renamed(self, old: str, new: str) -> Report:
        """The same report with one API field name changed (for *assumed* field names)."""
        renamed = tuple(replace(f, name=new) if f.name == old else f for f in self.fields)
        return replace(self, fields=renamed)

    def configured(self, *, route: str | None = None, user_filters: tuple[str, ...] = ()) -> Report:
        """The same report with a user's route and extra filter[] values (from the settings)."""
        return replace(self, route=route or self.route, filters=(*self.filters, *user_filters))


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
    route="/reports/{version}/igrps/{igrp}/triggers/calls?igrp={igrp}",
    fields=CALL_FIELDS,
    description="Every call of the installation (Infinity triggers/calls): the call log.",
)

GOALS = Report(
    key="goals",
    route="/reports/{version}/igrps/{igrp}/triggers/goals?igrp={igrp}",
    fields=CALL_FIELDS,  # a goal that was not a call has the call fields empty
    description="Triggers marked as a goal (Infinity triggers/goals): page-view goals with their "
    "href and vref, and calls that reached a goal, with the call's fields.",
    user_filter_fields=("ch", "segment"),
)

DIAL_IN_GROUPS = Report(
    key="dial_in_groups",
    route="/config/{version}/igrps/{igrp}/dgrps?igrp={igrp}",
    fields=(
        Field("igrp", "int", "Installation id"),
        Field("dgrp", "int", "Dial-in group id"),
        Field("dgrpName", "str", "Dial-in group name"),
        Field("autoDiscoveryNumber", "str", "Auto-discovery number of the group"),
        Field("destPhoneNumber", "str", "Where the group's calls are forwarded"),
        Field("dgrpStatus", "int", "200 active, 410 expired"),
    ),
    kind="snapshot",
    sort=("dgrp-asc",),
    cursor_field=None,
    description="The installation's dial-in groups with their auto-discovery numbers "
    "(config dgrps), one snapshot a day.",
)

FALLBACK_NUMBERS = Report(
    key="fallback_numbers",
    route="/config/{version}/igrps/{igrp}/dgrps/all/numbers?igrp={igrp}",
    fields=(
        Field("igrp", "int", "Installation id"),
        Field("dgrp", "int", "Dial-in group id"),
        Field("dgrpName", "str", "Dial-in group name"),
        Field("number", "str", "The phone number, as text"),
        Field("usageType", "str", "fixed (always the same number) or dynamic (pool)"),
        Field("ch", "int", "Marketing channel id (0: the fallback channel)"),
        Field("chName", "str", "Marketing channel name"),
        Field("chType", "str", "Marketing channel type"),
    ),
    kind="snapshot",
    # The guide's definition of an installation's fallback numbers.
    filters=("usageType-eq-value-fixed", "ch-eq-value-0"),
    sort=("dgrp-asc",),
    cursor_field=None,
    description="Fallback numbers: fixed numbers on channel 0, by dial-in group (config "
    "dgrps/all/numbers), one snapshot a day.",
)

ORGANISATIONS = Report(
    key="organisations",
    # Scoping organisations by ?igrp= is assumed (not in the public reference); override the
    # route (INFINITY_ORGANISATIONS_ROUTE) if needed.
    route="/reports/{version}/organisations?igrp={igrp}",
    fields=(
        Field("orgId", "int", "Organisation id"),
        Field("orgName", "str", "Organisation name"),
        Field("igrp", "int", "Installation id"),
        Field("parentOrgId", "int", "Parent organisation id (empty at the top)"),
        Field("orgRef", "str", "Your reference for the organisation"),
    ),
    kind="snapshot",
    sort=("orgName-asc",),
    cursor_field=None,
    description="Active organisations of the installation, by name (reports organisations), "
    "one snapshot a day.",
)

DAILY_REPORTS: tuple[Report, ...] = (CALLS, GOALS)
SNAPSHOT_REPORTS: tuple[Report, ...] = (DIAL_IN_GROUPS, FALLBACK_NUMBERS, ORGANISATIONS)
REPORTS: tuple[Report, ...] = (*DAILY_REPORTS, *SNAPSHOT_REPORTS)


@dataclass(frozen=True)
class Download:
    """Files fetched one by one for the rows of a daily report (call recordings)."""

    key: str  # asset key
    folder: str  # folder under the data dir: <folder>/date=YYYY-MM-DD/<rowId>.<ext>
    source: Report  # whose rows say what to fetch
    ref_field: str  # a row has a file when this field is non-empty
    route: str  # template with {version}, {igrp} and {rowId}
    route_variable: str
    default_extension: str
    description: str = ""


CALL_RECORDINGS = Download(
    key="call_recordings",
    folder="recordings",
    source=CALLS,
    ref_field="rec",
    # Assumed: Infinity documents the download by installation and rowId but not its route.
    route="/reports/{version}/igrps/{igrp}/triggers/calls/{rowId}/recording",
    route_variable="INFINITY_RECORDING_ROUTE",
    default_extension="mp3",
    description="The recording of every call of the day that has one, as audio files under "
    "<data dir>/recordings/date=YYYY-MM-DD/<rowId>.<ext>.",
)
