"""Configuration from the environment, validated once, before any request.

Each problem is reported as one sentence naming the variable to set. Secrets (the API key, the
password) are not kept here: the Dagster resource reads them through `EnvVar`, so their values never
reach the UI, logs or metadata.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .api.errors import InfinityConfigError

DEFAULT_BASE_URL = "https://api.infinitycloud.com"
DEFAULT_START_DATE = date(2024, 1, 1)
DEMO_HISTORY_DAYS = 30
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
        )
