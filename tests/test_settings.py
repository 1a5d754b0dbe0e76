"""Configuration fails fast, before any request, with one sentence naming the variable."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from infinity_dagster.api import InfinityConfigError
from infinity_dagster.settings import Settings

BASE = {"INFINITY_IGRP": "20001", "INFINITY_API_KEY": "k-123"}


def test_defaults() -> None:
    s = Settings.from_env(BASE)
    assert (s.igrp, s.base_url, s.timezone, s.start_date, s.cid_field, s.demo, s.auth_kind) == (
        20001,
        "https://api.infinitycloud.com",
        "UTC",
        date(2024, 1, 1),
        "googleCid",
        False,
        "api_key",
    )
    assert s.data_dir == Path("./data").resolve()
    assert "k-123" not in repr(s)


def test_demo_needs_nothing_and_keeps_data_apart(tmp_path) -> None:
    s = Settings.from_env({"INFINITY_DEMO": "1", "INFINITY_DATA_DIR": str(tmp_path)})
    assert (s.igrp, s.base_url, s.auth_kind, s.data_dir) == (20001, None, "demo", tmp_path / "demo")
    assert s.start_date == date.today() - timedelta(days=30)


def test_basic_credentials_when_no_key() -> None:
    s = Settings.from_env(
        {"INFINITY_IGRP": "7", "INFINITY_USERNAME": "u", "INFINITY_PASSWORD": "p"}
    )
    assert s.auth_kind == "basic"
    assert s.credential_variables == "INFINITY_USERNAME and INFINITY_PASSWORD"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"INFINITY_API_KEY": "k"},
            "INFINITY_IGRP is not set: set it to your Infinity installation id "
            "(or INFINITY_DEMO=1 to try the bundled simulator).",
        ),
        (
            {**BASE, "INFINITY_IGRP": "12a"},
            "INFINITY_IGRP must be a positive whole number (the installation id), got '12a'.",
        ),
        (
            {"INFINITY_IGRP": "1"},
            "No Infinity credentials: set INFINITY_API_KEY (or INFINITY_USERNAME and "
            "INFINITY_PASSWORD).",
        ),
        (
            {"INFINITY_IGRP": "1", "INFINITY_USERNAME": "u"},
            "INFINITY_PASSWORD is not set: portal credentials need both INFINITY_USERNAME and "
            "INFINITY_PASSWORD (or set INFINITY_API_KEY instead).",
        ),
        (
            {**BASE, "INFINITY_TIMEZONE": "Mars/Olympus"},
            "INFINITY_TIMEZONE must be an IANA time zone name such as Europe/London, "
            "got 'Mars/Olympus'.",
        ),
        (
            {**BASE, "INFINITY_START_DATE": "2024-13-01"},
            "INFINITY_START_DATE must be a date as YYYY-MM-DD, got '2024-13-01'.",
        ),
        (
            {**BASE, "INFINITY_BASE_URL": "api.infinitycloud.com"},
            "INFINITY_BASE_URL must be an http(s) URL such as https://api.infinitycloud.com, "
            "got 'api.infinitycloud.com'.",
        ),
        (
            {**BASE, "INFINITY_CID_FIELD": "google-cid"},
            "INFINITY_CID_FIELD must be an API field name (letters, digits, _), got 'google-cid'.",
        ),
        (
            {**BASE, "INFINITY_DEMO": "maybe"},
            "INFINITY_DEMO must be 1 or 0, got 'maybe'; set INFINITY_DEMO=1 to use the bundled "
            "simulator.",
        ),
    ],
)
def test_bad_configuration_says_what_to_set(env: dict, message: str) -> None:
    with pytest.raises(InfinityConfigError) as info:
        Settings.from_env(env)
    assert str(info.value) == message


def test_start_date_in_the_future() -> None:
    future = (date.today() + timedelta(days=3)).isoformat()
    with pytest.raises(InfinityConfigError, match=f"INFINITY_START_DATE {future} is in the future"):
        Settings.from_env({**BASE, "INFINITY_START_DATE": future})


def test_continuous_import_knobs() -> None:
    s = Settings.from_env(BASE)
    assert (s.lookback_days, s.poll_seconds) == (3, 60)
    s = Settings.from_env({**BASE, "INFINITY_LOOKBACK_DAYS": "7", "INFINITY_POLL_SECONDS": "15"})
    assert (s.lookback_days, s.poll_seconds) == (7, 15)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "INFINITY_LOOKBACK_DAYS",
            "0",
            "INFINITY_LOOKBACK_DAYS must be a whole number from 1 to 366 (complete days the "
            "daily schedule re-pulls, yesterday included), got '0'.",
        ),
        (
            "INFINITY_POLL_SECONDS",
            "1m",
            "INFINITY_POLL_SECONDS must be a whole number from 5 to 86400 (least seconds between "
            "two polls of a rowId sensor), got '1m'.",
        ),
    ],
)
def test_continuous_import_knobs_are_checked(name, value, message) -> None:
    with pytest.raises(InfinityConfigError) as raised:
        Settings.from_env({**BASE, name: value})
    assert str(raised.value) == message
