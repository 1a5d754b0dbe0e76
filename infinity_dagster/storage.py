"""Parquet layout: `<data dir>/raw/<report>/date=YYYY-MM-DD/data.parquet`, one file per day.

A partition is replaced as a whole and atomically: rows stream into a hidden temporary file beside
the final one (`.data.parquet.<id>.tmp`, which no `*.parquet` glob matches), and only a complete,
closed, fsynced file is renamed over `data.parquet`. A crash leaves the previous file intact.

Each temporary file is claimed by an exclusive `flock` on a sibling `.<id>.lock` file, held while
its writer lives. The kernel drops the lock when the process dies, even by `kill -9`, so the next
write can tell a dead run's leftovers (unlocked: removed) from a live writer's (locked: kept).
"""

from __future__ import annotations

import os
import time
import uuid

try:
    import fcntl
except ImportError:  # Windows: no flock; leftovers are removed by age instead
    fcntl = None  # type: ignore[assignment]
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .api.errors import InfinityDataError

DATA_FILE = "data.parquet"
PARQUET_OPTIONS = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}
# A column is dictionary-encoded when its first page repeats values this much (distinct / rows):
# call states, channels, group names. Ids, UUIDs and URLs would only build a dictionary for
# Arrow to drop again, at a cost of about a third of the write time.
DICTIONARY_MAX_DISTINCT_SHARE = 0.1


def parquet_options(schema: pa.Schema, sample: pa.Table | None = None) -> dict:
    """Writer options for a file of `schema`, tuned on its first rows (`sample`) when given.

    zstd throughout; dictionaries where the sample repeats values; min/max statistics on the
    non-text columns (rowId, times, ids, durations: what readers filter on), not on free text,
    whose statistics cost time and prune nothing.
    """
    if sample is None or sample.num_rows == 0:
        return dict(PARQUET_OPTIONS)
    limit = max(1, int(sample.num_rows * DICTIONARY_MAX_DISTINCT_SHARE))
    dictionary = [
        name
        for name in schema.names
        if pc.count_distinct(sample.column(name), mode="all").as_py() <= limit
    ]
    statistics = [f.name for f in schema if not pa.types.is_string(f.type)]
    return {"compression": "zstd", "use_dictionary": dictionary, "write_statistics": statistics}


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
        sweep_abandoned(final_path)
        self._claim = TemporaryClaim(final_path)
        self._tmp = self._claim.path
        self._committed = False
        self._closed = False
        # Opened on the first rows, so the encoding can be chosen from them.
        self._writer: pq.ParquetWriter | None = None

    def _open(self, sample: pa.Table | None) -> pq.ParquetWriter:
        if self._writer is None:
            self._writer = pq.ParquetWriter(
                self._tmp, self.schema, **parquet_options(self.schema, sample)
            )
        return self._writer

    def write(self, table: pa.Table) -> None:
        if self._closed:
            raise RuntimeError("this partition writer is closed")
        if not table.schema.equals(self.schema):
            raise InfinityDataError(
                f"rows for {self.final_path.parent.name} do not match the catalogue schema: "
                f"got {table.schema}, expected {self.schema}"
            )
        if table.num_rows:
            self._open(table).write_table(table)
            self.stats.rows += table.num_rows
            self.stats.row_groups += 1

    def commit(self) -> WriteStats:
        """Close the file, make it durable, and rename it over the partition's data file."""
        assert not self._closed, "commit() called twice"
        self._open(None).close()
        self._writer = None
        self._closed = True
        _fsync(self._tmp)
        os.replace(self._tmp, self.final_path)
        _fsync_dir(self.final_path.parent)
        self._committed = True
        self._claim.release()
        self.stats.bytes = self.final_path.stat().st_size
        return self.stats

    def abort(self) -> None:
        self._closed = True
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if not self._committed:
            self._claim.release()

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


class TemporaryClaim:
    """A fresh hidden temporary name beside `final_path`, marked live by a lock on `.lock`.

    `path` is `.<final name>.<id>.tmp`; nothing is created there yet (the caller writes it).
    `release()` removes the temporary file (if it was not renamed away), its DuckDB `.wal`, and
    the lock file, then drops the lock.
    """

    def __init__(self, final_path: Path):
        while True:
            stem = final_path.with_name(f".{final_path.name}.{uuid.uuid4().hex}")
            self.path = stem.with_name(stem.name + ".tmp")
            self._lock_path = stem.with_name(stem.name + ".lock")
            self._fd: int | None = os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_RDWR)
            if fcntl is None:
                return
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            if os.fstat(self._fd).st_nlink:
                return
            # A sweep took the lock file between its creation and our lock: take another name.
            os.close(self._fd)

    def release(self) -> None:
        if self._fd is None:
            return
        _remove_claimed(self.path, self._lock_path)
        os.close(self._fd)
        self._fd = None


def sweep_abandoned(final_path: Path) -> list[Path]:
    """Remove the temporary files of writers of `final_path` that died (killed, crashed).

    A temporary file whose lock nobody holds belongs to a dead process. Without `flock`
    (Windows), and for temporary files without a lock file, only those older than an hour go.
    Returns the temporary paths removed.
    """
    removed = []
    prefix = f".{final_path.name}."
    for lock_path in final_path.parent.glob(f"{prefix}*.lock"):
        tmp = lock_path.with_suffix(".tmp")
        if _take_abandoned(lock_path, tmp):
            removed.append(tmp)
    cutoff = time.time() - 3600
    for tmp in final_path.parent.glob(f"{prefix}*.tmp"):
        try:
            lock_path = tmp.with_suffix(".lock")
            if not lock_path.exists() and tmp.stat().st_mtime < cutoff:
                _remove_claimed(tmp, lock_path)
                removed.append(tmp)
        except FileNotFoundError:
            pass
    return removed


def _take_abandoned(lock_path: Path, tmp: Path) -> bool:
    """Remove `tmp` and its lock file if no live process holds the lock (under the lock)."""
    try:
        fd = os.open(lock_path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        if fcntl is None:
            if lock_path.stat().st_mtime >= time.time() - 3600:
                return False
        else:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False  # a live writer
        _remove_claimed(tmp, lock_path)
        return True
    finally:
        os.close(fd)


def _remove_claimed(tmp: Path, lock_path: Path) -> None:
    tmp.unlink(missing_ok=True)
    Path(f"{tmp}.wal").unlink(missing_ok=True)
    lock_path.unlink(missing_ok=True)


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
