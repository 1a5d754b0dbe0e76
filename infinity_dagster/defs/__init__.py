"""Dagster objects built from the report catalogue and the settings."""

from __future__ import annotations

from dataclasses import replace

from dagster import DailyPartitionsDefinition, Definitions, EnvVar

from ..quality import Thresholds
from ..reports import CALL_RECORDINGS, DAILY_REPORTS, SNAPSHOT_REPORTS, Download, Report
from ..settings import Settings
from .checks import model_checks, raw_report_checks
from .continuous import continuous_import
from .models import duckdb_models
from .previews import calls_day_metadata
from .raw import daily_report_asset
from .recordings import call_recordings_asset
from .report_schedules import report_schedules
from .resources import InfinityResource, ParquetStore
from .snapshots import snapshot_report_asset


def daily_partitions(settings: Settings) -> DailyPartitionsDefinition:
    """One partition per local day in INFINITY_TIMEZONE, today included (it fills as calls land)."""
    return DailyPartitionsDefinition(
        start_date=settings.start_date.isoformat(),
        timezone=settings.timezone,
        end_offset=1,
    )


def configured(report: Report, settings: Settings) -> Report:
    """A catalogue entry with the user's route, filters, field names and client-id field."""
    return (
        report.with_field_renamed("googleCid", settings.cid_field)
        .configured(
            route=settings.routes.get(report.key),
            user_filters=settings.report_filters.get(report.key, ()),
        )
        .with_api_names(dict(settings.field_names.get(report.key, {})))
    )


def daily_reports(settings: Settings) -> list[Report]:
    """The daily catalogue entries (calls, goals), as configured."""
    return [configured(r, settings) for r in DAILY_REPORTS]


def snapshot_reports(settings: Settings) -> list[Report]:
    """The snapshot catalogue entries (dial-in groups, fallback numbers, organisations)."""
    return [configured(r, settings) for r in SNAPSHOT_REPORTS]


def call_recordings(settings: Settings) -> Download:
    calls = next(r for r in daily_reports(settings) if r.key == CALL_RECORDINGS.source.key)
    route = settings.routes.get(CALL_RECORDINGS.key, CALL_RECORDINGS.route)
    return replace(CALL_RECORDINGS, source=calls, route=route)


def infinity_resource(settings: Settings, **tuning: object) -> InfinityResource:
    """The API resource; secrets are `EnvVar`s, so the UI shows their names, never their values.

    `tuning` sets other resource fields (page size, timeouts, retry waits), e.g. in tests.
    """
    secrets: dict = {}
    if settings.auth_kind == "demo":
        from ..simulator import DEMO_API_KEY

        secrets["api_key"] = DEMO_API_KEY
    elif settings.auth_kind == "api_key":
        secrets["api_key"] = EnvVar("INFINITY_API_KEY")
    else:
        secrets["username"] = EnvVar("INFINITY_USERNAME")
        secrets["password"] = EnvVar("INFINITY_PASSWORD")
    return InfinityResource(
        igrp=settings.igrp,
        base_url=settings.base_url,
        timezone=settings.timezone,
        demo=settings.demo,
        demo_start_date=settings.start_date.isoformat() if settings.demo else None,
        **secrets,
        **tuning,
    )


def build_definitions(settings: Settings) -> Definitions:
    from dagster_duckdb import DuckDBResource

    partitions = daily_partitions(settings)
    reports = daily_reports(settings)
    snapshots = snapshot_reports(settings)
    thresholds = Thresholds.from_env()
    calls_preview = calls_day_metadata(
        report_key="calls",
        cid_field=settings.cid_field,
        call_state_mapping=settings.call_state_mapping,
        thresholds=thresholds,
    )
    raw_assets = [
        daily_report_asset(
            r,
            partitions,
            demo=settings.demo,
            day_metadata=calls_preview if r.key == "calls" else None,
        )
        for r in reports
    ]
    raw_assets += [snapshot_report_asset(r, demo=settings.demo) for r in snapshots]
    recordings = call_recordings(settings)
    raw_assets.append(call_recordings_asset(recordings, partitions, demo=settings.demo))
    models = duckdb_models(
        [*reports, *snapshots],
        cid_field=settings.cid_field,
        call_state_mapping=settings.call_state_mapping,
        demo=settings.demo,
        thresholds=thresholds,
    )
    checks = [c for r in reports for c in raw_report_checks(r, settings.start_date)]
    checks += model_checks(thresholds)
    return Definitions(
        assets=[*raw_assets, models],
        asset_checks=checks,
        resources={
            "infinity": infinity_resource(settings),
            "store": ParquetStore(data_dir=str(settings.data_dir)),
            "duckdb": DuckDBResource(database=str(settings.duckdb_path)),
        },
        **_joined(
            continuous_import(settings, partitions, reports),
            report_schedules(partitions, snapshots, recordings),
        ),
    )


def _joined(*parts: dict[str, list]) -> dict[str, list]:
    """Definitions keyword arguments (jobs, sensors, schedules) from several modules, joined."""
    joined: dict[str, list] = {}
    for part in parts:
        for name, values in part.items():
            joined.setdefault(name, []).extend(values)
    return joined
