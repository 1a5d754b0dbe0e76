"""Configuration from the environment, validated once, before any request.

Each problem is reported as one sentence naming the variable to set. Secrets (the API key, the
password) are not kept here: the Dagster resource reads them through `EnvVar`, so their values never
reach the UI, logs or metadata.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .api.errors import InfinityConfigError
from .reports import CALL_RECORDINGS, REPORTS, Report

DEFAULT_BASE_URL = "https://api.infinitycloud.com"
DEFAULT_START_DATE = date(2024, 1, 1)
DEMO_HISTORY_DAYS = 30
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_POLL_SECONDS = 60
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Settings:
    igrp: int
    base_url: str | None  # None in demo mode: the bundled simulator, started in-process
    timezone: str
    start_date: date
    data_dir: Path
    cid_field: str
    demo: bool
    auth_kind: str  # "api_key", "basic" or "demo": which credentials the resource reads
    call_state_mapping: Path | None = None  # a user's CSV replacing the packaged mapping
    # Report key -> the user's route template (INFINITY_<KEY>_ROUTE, INFINITY_RECORDING_ROUTE).
    routes: Mapping[str, str] = field(default_factory=dict)
    # Report key -> extra filter[] values from INFINITY_<KEY>_FILTERS.
    report_filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Report key -> {our field name: the API's name} from INFINITY_<KEY>_FIELD_NAMES.
    field_names: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    lookback_days: int = DEFAULT_LOOKBACK_DAYS  # complete days the daily schedule re-pulls
    poll_seconds: int = DEFAULT_POLL_SECONDS  # least time between two rowId sensor ticks

    def route(self, key: str, default: str) -> str:
        return self.routes.get(key, default)

    @property
    def credential_variables(self) -> str:
        if self.auth_kind == "api_key":
            return "INFINITY_API_KEY"
        return "INFINITY_USERNAME and INFINITY_PASSWORD"

    @property
    def duckdb_path(self) -> Path:
        return self.data_dir / "infinity.duckdb"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str:
            return env.get(name, "").strip()

        demo = get("INFINITY_DEMO").lower() in ("1", "true", "yes")
        if get("INFINITY_DEMO") and not demo and get("INFINITY_DEMO") not in ("0", "false", "no"):
            raise InfinityConfigError(
                f"INFINITY_DEMO must be 1 or 0, got {get('INFINITY_DEMO')!r}; set INFINITY_DEMO=1 "
                "to use the bundled simulator."
            )

        igrp_text = get("INFINITY_IGRP")
        if not igrp_text:
            if not demo:
                raise InfinityConfigError(
                    "INFINITY_IGRP is not set: set it to your Infinity installation id "
                    "(or INFINITY_DEMO=1 to try the bundled simulator)."
                )
            from .simulator import DEMO_IGRP

            igrp = DEMO_IGRP
        elif not igrp_text.isdigit() or int(igrp_text) <= 0:
            raise InfinityConfigError(
                f"INFINITY_IGRP must be a positive whole number (the installation id), "
                f"got {igrp_text!r}."
            )
        else:
            igrp = int(igrp_text)

        if get("INFINITY_API_KEY"):
            auth_kind = "api_key"
        elif get("INFINITY_USERNAME") or get("INFINITY_PASSWORD"):
            if not (get("INFINITY_USERNAME") and get("INFINITY_PASSWORD")):
                missing = "INFINITY_PASSWORD" if get("INFINITY_USERNAME") else "INFINITY_USERNAME"
                raise InfinityConfigError(
                    f"{missing} is not set: portal credentials need both INFINITY_USERNAME and "
                    "INFINITY_PASSWORD (or set INFINITY_API_KEY instead)."
                )
            auth_kind = "basic"
        elif demo:
            auth_kind = "demo"  # the bundled simulator's published demo key, not a secret
        else:
            raise InfinityConfigError(
                "No Infinity credentials: set INFINITY_API_KEY (or INFINITY_USERNAME and "
                "INFINITY_PASSWORD)."
            )

        base_url: str | None = get("INFINITY_BASE_URL") or None
        if base_url is None and not demo:
            base_url = DEFAULT_BASE_URL
        if base_url is not None and not re.match(r"^https?://[^/\s]+", base_url):
            raise InfinityConfigError(
                f"INFINITY_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, "
                f"got {base_url!r}."
            )

        timezone = get("INFINITY_TIMEZONE") or "UTC"
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InfinityConfigError(
                f"INFINITY_TIMEZONE must be an IANA time zone name such as Europe/London, "
                f"got {timezone!r}."
            ) from None

        today = datetime.now(ZoneInfo(timezone)).date()
        start_text = get("INFINITY_START_DATE")
        if start_text:
            try:
                start_date = date.fromisoformat(start_text)
            except ValueError:
                raise InfinityConfigError(
                    f"INFINITY_START_DATE must be a date as YYYY-MM-DD, got {start_text!r}."
                ) from None
            if start_date > today:
                raise InfinityConfigError(
                    f"INFINITY_START_DATE {start_text} is in the future (today is {today} in "
                    f"{timezone}); set it to the first day to import."
                )
        else:
            start_date = today - timedelta(days=DEMO_HISTORY_DAYS) if demo else DEFAULT_START_DATE

        data_dir = Path(get("INFINITY_DATA_DIR") or "./data").expanduser().resolve()
        if demo:
            data_dir = data_dir / "demo"

        cid_field = get("INFINITY_CID_FIELD") or "googleCid"
        if not _FIELD_NAME.match(cid_field):
            raise InfinityConfigError(
                f"INFINITY_CID_FIELD must be an API field name (letters, digits, _), "
                f"got {cid_field!r}."
            )

        mapping_text = get("INFINITY_CALL_STATE_MAPPING")
        mapping = Path(mapping_text).expanduser().resolve() if mapping_text else None
        if mapping is not None and not mapping.is_file():
            raise InfinityConfigError(
                f"INFINITY_CALL_STATE_MAPPING points at {mapping}, which is not a file; set it to "
                "a CSV with columns call_state,category,is_failure,description."
            )

        routes: dict[str, str] = {}
        for report in REPORTS:
            if get(report.route_variable):
                routes[report.key] = _route_template(report.route_variable, get, ())
        if get(CALL_RECORDINGS.route_variable):
            routes[CALL_RECORDINGS.key] = _route_template(
                CALL_RECORDINGS.route_variable, get, ("rowId",)
            )
        report_filters = {
            report.key: _user_filters(report, get(report.filters_variable))
            for report in REPORTS
            if report.user_filter_fields and get(report.filters_variable)
        }
        lookback_days = _whole_number(
            env.get("INFINITY_LOOKBACK_DAYS", ""),
            name="INFINITY_LOOKBACK_DAYS",
            default=DEFAULT_LOOKBACK_DAYS,
            low=1,
            high=366,
            meaning="complete days the daily schedule re-pulls, yesterday included",
        )
        poll_seconds = _whole_number(
            env.get("INFINITY_POLL_SECONDS", ""),
            name="INFINITY_POLL_SECONDS",
            default=DEFAULT_POLL_SECONDS,
            low=5,
            high=86_400,
            meaning="least seconds between two polls of a rowId sensor",
        )

        field_names = {
            report.key: _field_names(report, get(report.field_names_variable))
            for report in REPORTS
            if get(report.field_names_variable)
        }

        return cls(
            igrp=igrp,
            base_url=base_url,
            timezone=timezone,
            start_date=start_date,
            data_dir=data_dir,
            cid_field=cid_field,
            demo=demo,
            auth_kind=auth_kind,
            call_state_mapping=mapping,
            routes=routes,
            report_filters=report_filters,
            field_names=field_names,
            lookback_days=lookback_days,
            poll_seconds=poll_seconds,
        )


def _route_template(variable: str, get, required: tuple[str, ...]) -> str:
    """A user's route template: a path from the API root, with only the placeholders we fill."""
    allowed = {"version", "igrp", *required}
    template = get(variable)
    example = "/reports/{version}/igrps/{igrp}/triggers/calls/{rowId}/recording"
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError:
        names = {"?"}
    missing = [name for name in required if name not in names]
    if not template.startswith("/") or names - allowed or missing:
        shown = ", ".join("{" + n + "}" for n in sorted(allowed))
        raise InfinityConfigError(
            f"{variable} must be a path starting with / that uses only the placeholders {shown}"
            + (f" and includes {{{missing[0]}}}" if missing else "")
            + f" (such as {example if required else '/reports/{version}/organisations'}), "
            f"got {template!r}."
        )
    return template


def _user_filters(report: Report, text: str) -> tuple[str, ...]:
    """`ch=1,segment=2` as filter[] values (`ch-eq-value-1`, `segment-eq-value-2`)."""
    from .api.query import filter_expr

    types = {f.name: f.type for f in report.fields}
    allowed = ", ".join(report.user_filter_fields)
    filters = []
    for item in text.split(","):
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or name not in report.user_filter_fields or not value:
            raise InfinityConfigError(
                f"{report.filters_variable} must be a comma-separated list of field=value with "
                f"fields among {allowed} (such as ch=1,segment=2), got {text!r}."
            )
        if types[name] == "int" and not value.isdigit():
            raise InfinityConfigError(
                f"{report.filters_variable}: {name} must be a whole number, got {value!r}."
            )
        filters.append(filter_expr(name, "eq", value))
    return tuple(filters)


def _field_names(report: Report, text: str) -> dict[str, str]:
    """`orgName=orgTitle` (our field = the API's name) as a mapping, for assumed field names."""
    # rowId is the paging cursor the client names itself: it cannot be renamed.
    renamable = [n for n in report.field_names if n != report.cursor_field]
    names = {}
    for item in text.split(","):
        ours, sep, theirs = (part.strip() for part in item.partition("="))
        if not sep or ours not in renamable or not _FIELD_NAME.match(theirs):
            raise InfinityConfigError(
                f"{report.field_names_variable} must be a comma-separated list of field=api_name, "
                f"each field one of {', '.join(renamable)} and each api_name letters, digits or "
                f"_ (such as orgName=orgTitle), got {text!r}."
            )
        names[ours] = theirs
    return names


def _whole_number(text: str, *, name: str, default: int, low: int, high: int, meaning: str) -> int:
    text = text.strip()
    if not text:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise InfinityConfigError(
            f"{name} must be a whole number from {low} to {high} ({meaning}), got {text!r}."
        )
    return int(text)
