"""The `call_recordings` asset: the audio of every recorded call of a day, as files.

Reads the day's calls from their Parquet file (so `calls` for that day comes first), and fetches
each call whose `rec` is non-empty into `<data dir>/recordings/date=YYYY-MM-DD/<rowId>.<ext>`:

- a bounded number of downloads at a time (threads sharing one HTTP client);
- a file already under its final name is complete (it only gets there by a rename) and is skipped;
- each download streams into a hidden temporary file beside the final one, fsynced, then renamed,
  so a killed run never leaves a partial file under the final name;
- a recording the server does not have (404) is listed in the metadata, not fatal.
"""

import os
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MaterializeResult,
    MetadataValue,
    PartitionsDefinition,
    asset,
)
from pydantic import Field

from ..api import InfinityApiError, InfinityClient, InfinityConfigError
from ..reports import Download
from ..storage import partition_file
from .resources import InfinityResource, ParquetStore

_EXTENSION = re.compile(r"\.([A-Za-z0-9]{1,5})$")
STALE_TEMPORARY_SECONDS = 3600


class RecordingsConfig(Config):
    max_concurrent_downloads: int = Field(
        default=4, ge=1, le=32, description="Recordings downloaded at the same time."
    )


def recordings_dir(data_dir: Path, download: Download, day: date | str) -> Path:
    day_text = day.isoformat() if isinstance(day, date) else day
    return data_dir / download.folder / f"date={day_text}"


def extension(ref: str, default: str) -> str:
    """The file extension a recording reference names (`20001/123.mp3` -> mp3), or `default`."""
    match = _EXTENSION.search(ref.strip())
    return match.group(1).lower() if match else default


@dataclass
class Outcome:
    row_id: int
    status: str  # "downloaded", "skipped" or "missing"
    bytes: int


def call_recordings_asset(
    download: Download, partitions_def: PartitionsDefinition, *, demo: bool = False
) -> AssetsDefinition:
    """The daily asset that downloads `download` files for the rows of its source report."""

    @asset(
        name=download.key,
        partitions_def=partitions_def,
        deps=[download.source.key],
        group_name="infinity_raw",
        kinds={"file"},
        description=download.description,
        metadata={"infinity/route": download.route},
        tags={"infinity/demo": "true"} if demo else None,
    )
    def _recordings(
        context: AssetExecutionContext,
        config: RecordingsConfig,
        infinity: InfinityResource,
        store: ParquetStore,
    ) -> MaterializeResult:
        day = context.partition_key
        started = time.monotonic()
        wanted = _recorded_calls(store, download, day)
        folder = recordings_dir(Path(store.data_dir), download, day)
        folder.mkdir(parents=True, exist_ok=True)
        _sweep_stale_temporaries(folder)
        # A refused key or an unreachable API fails every download alike: after the first
        # failure, downloads not yet started are skipped rather than retried each in turn.
        failed = threading.Event()
        with infinity.get_client() as client:

            def fetch(item: tuple[int, str]) -> Outcome | None:
                if failed.is_set():
                    return None
                row_id, ref = item
                final = folder / f"{row_id}.{extension(ref, download.default_extension)}"
                try:
                    return _fetch_one(client, download, row_id, final)
                except BaseException:
                    failed.set()
                    raise

            with ThreadPoolExecutor(config.max_concurrent_downloads) as pool:
                results = list(pool.map(fetch, wanted))
        outcomes = [o for o in results if o is not None]
        seconds = time.monotonic() - started
        missing = sorted(o.row_id for o in outcomes if o.status == "missing")
        downloaded = [o for o in outcomes if o.status == "downloaded"]
        present = [o for o in outcomes if o.status != "missing"]
        if wanted and len(missing) == len(wanted):
            context.log.warning(
                f"Every recording of {day} answered 404: if calls do have recordings, check "
                f"{download.route_variable} (the route is assumed)."
            )
        context.log.info(
            f"{download.key} {day}: {len(present)} of {len(wanted)} recordings present "
            f"({len(downloaded)} downloaded), {len(missing)} missing, {seconds:.2f} s"
        )
        return MaterializeResult(
            metadata={
                "dagster/row_count": MetadataValue.int(len(present)),
                "recorded_calls": MetadataValue.int(len(wanted)),
                "downloaded": MetadataValue.int(len(downloaded)),
                "skipped_complete": MetadataValue.int(len(present) - len(downloaded)),
                "missing_count": MetadataValue.int(len(missing)),
                "missing_row_ids": MetadataValue.json(missing),
                "bytes": MetadataValue.int(sum(o.bytes for o in present)),
                "downloaded_bytes": MetadataValue.int(sum(o.bytes for o in downloaded)),
                "seconds": MetadataValue.float(round(seconds, 3)),
                "path": MetadataValue.path(str(folder)),
                "demo": MetadataValue.bool(demo),
            }
        )

    return _recordings


def _recorded_calls(store: ParquetStore, download: Download, day: str) -> list[tuple[int, str]]:
    """(rowId, reference) of the day's rows whose reference field is non-empty."""
    path = partition_file(store.raw_dir, download.source.key, day)
    if not path.exists():
        raise InfinityConfigError(
            f"There are no {download.source.key} for {day} yet ({path} is missing): "
            f"materialize {download.source.key} for {day} first, then {download.key}."
        )
    table = pq.read_table(path, columns=["rowId", download.ref_field])
    refs = table.column(download.ref_field)
    table = table.filter(pc.fill_null(pc.not_equal(pc.utf8_trim_whitespace(refs), ""), False))
    return list(
        zip(table.column("rowId").to_pylist(), table.column(download.ref_field).to_pylist())
    )


def _fetch_one(client: InfinityClient, download: Download, row_id: int, final: Path) -> Outcome:
    if final.exists():  # only a complete file is ever renamed to its final name
        return Outcome(row_id, "skipped", final.stat().st_size)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        size = client.download(client.path(download.route, rowId=row_id), tmp)
        os.replace(tmp, final)
    except InfinityApiError as exc:
        if exc.status == 404:
            return Outcome(row_id, "missing", 0)
        raise
    finally:
        tmp.unlink(missing_ok=True)
    return Outcome(row_id, "downloaded", size)


def _sweep_stale_temporaries(folder: Path) -> None:
    """Remove temporary files a killed run left (old ones only: a concurrent run keeps its own)."""
    cutoff = time.time() - STALE_TEMPORARY_SECONDS
    for stale in folder.glob(".*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except FileNotFoundError:
            pass
