"""Parquet layout: `<data dir>/raw/<report>/date=YYYY-MM-DD/data.parquet`, one file per day.

A partition is replaced as a whole and atomically: rows stream into a hidden temporary file beside
the final one (`.data.parquet.<id>.tmp`, which no `*.parquet` glob matches), and only a complete,
closed, fsynced file is renamed over `data.parquet`. A crash leaves the previous file intact; the
next write sweeps the stale temporary files.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.parquet as pq

from .api.errors import InfinityDataError

DATA_FILE = "data.parquet"
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}


def partition_dir(raw_dir: Path, report_key: str, day: date | str) -> Path:
    day_text = day.isoformat() if isinstance(day, date) else day
    return raw_dir / report_key / f"date={day_text}"


def partition_file(raw_dir: Path, report_key: str, day: date | str) -> Path:
    return partition_dir(raw_dir, report_key, day) / DATA_FILE


def report_glob(raw_dir: Path, report_key: str) -> str:
    """The glob readers (DuckDB views) use for every day of a report."""
    return str(raw_dir / report_key / "date=*" / "*.parquet")


@dataclass
class WriteStats:
    rows: int = 0
    row_groups: int = 0
    bytes: int = 0
    path: Path | None = None


class PartitionWriter:
    """Streams tables into one partition file and swaps it in atomically on `commit()`.

    Every table must match `schema` exactly (names, order, types): types come from the
    catalogue, never from inference, so an empty day has the same schema as a full one.
    Leaving the `with` block without `commit()` (an exception) discards the temporary file.
    """

    def __init__(self, final_path: Path, schema: pa.Schema):
        self.final_path = final_path
        self.schema = schema
        self.stats = WriteStats(path=final_path)
        final_path.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale_temporaries(final_path)
        self._tmp = final_path.with_name(f".{final_path.name}.{uuid.uuid4().hex}.tmp")
        self._writer: pq.ParquetWriter | None = pq.ParquetWriter(
            self._tmp, schema, **PARQUET_OPTIONS
        )
        self._committed = False

    def write(self, table: pa.Table) -> None:
        if self._writer is None:
            raise RuntimeError("this partition writer is closed")
        if not table.schema.equals(self.schema):
            raise InfinityDataError(
                f"rows for {self.final_path.parent.name} do not match the catalogue schema: "
                f"got {table.schema}, expected {self.schema}"
            )
        if table.num_rows:
            self._writer.write_table(table)
            self.stats.rows += table.num_rows
            self.stats.row_groups += 1

    def commit(self) -> WriteStats:
        """Close the file, make it durable, and rename it over the partition's data file."""
        assert self._writer is not None, "commit() called twice"
        self._writer.close()
        self._writer = None
        _fsync(self._tmp)
        os.replace(self._tmp, self.final_path)
        _fsync_dir(self.final_path.parent)
        self._committed = True
        self.stats.bytes = self.final_path.stat().st_size
        return self.stats

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if not self._committed:
            self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> PartitionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._committed:
            self.abort()


def write_partition(final_path: Path, schema: pa.Schema, tables: Iterable[pa.Table]) -> WriteStats:
    """Replace one partition file with the given tables, atomically."""
    with PartitionWriter(final_path, schema) as writer:
        for table in tables:
            writer.write(table)
        return writer.commit()


def _sweep_stale_temporaries(final_path: Path) -> None:
    """Remove temporary files a killed run left behind. Only files older than an hour are
    touched, so a concurrent writer of the same partition keeps its own file."""
    cutoff = time.time() - 3600
    for stale in final_path.parent.glob(f".{final_path.name}.*.tmp"):
        try:
            if stale.stat().st_mtime < cutoff:
                stale.unlink()
        except FileNotFoundError:
            pass


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        _fsync(path)
    except OSError:  # some filesystems do not allow fsync on a directory
        pass
