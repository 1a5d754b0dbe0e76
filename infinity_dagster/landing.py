"""Landing new rows in a day's file, one writer per day, and the rowId watermark of what landed.

The rowId sensor asks a run to land the rows of one day whose rowIds lie in (after, up_to]. The
run merges them into the day's `data.parquet`: the rows already there stream through in batches
(minus any rowId the new rows carry again), the new rows follow, and the complete file is renamed
over the old one (storage.PartitionWriter). Landing the same rows twice leaves the same rows:
idempotent, so a retried run never doubles a row.

Two runs that write the same day (a sensor merge and the schedule's whole-day pull) take the day's
lock in turn (`day_lock`), so neither replaces the file with a copy that misses the other's rows.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .storage import DATA_FILE, PartitionWriter

ROW_GROUP_ROWS = 50_000  # rows are copied and written in groups of this size: memory stays flat
LOCKS_DIR = ".locks"  # <raw>/<report>/.locks/date=YYYY-MM-DD.lock: outside the hive folders


@dataclass(frozen=True)
class MergeStats:
    rows: int  # rows in the day's file after the merge
    added: int  # rows whose rowId the file did not hold before
    replaced: int  # rows the file held before and that came again (the new copy is kept)
    bytes: int
    min_row_id: int | None
    max_row_id: int | None


@contextmanager
def day_lock(data_file: Path) -> Iterator[None]:
    """Hold the exclusive lock of a day's file (an advisory `flock`, released if the process
    dies). The lock file lives outside the day's folder, which keeps only `data.parquet`."""
    locks = data_file.parent.parent / LOCKS_DIR
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{data_file.parent.name}.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def merge_into_partition(path: Path, schema: pa.Schema, new_rows: pa.Table) -> MergeStats:
    """Replace the day's file by its rows plus `new_rows`, each rowId once, atomically."""
    new_ids = new_rows.column("rowId").combine_chunks()
    replaced = 0
    low = high = None
    with PartitionWriter(path, schema) as writer:
        buffer = _Coalescer(writer)
        if path.exists():
            with pq.ParquetFile(path) as old:
                for batch in old.iter_batches(batch_size=ROW_GROUP_ROWS):
                    table = pa.Table.from_batches([batch]).cast(schema)
                    again = pc.is_in(table.column("rowId"), value_set=new_ids)
                    replaced += pc.sum(again).as_py() or 0
                    buffer.add(table.filter(pc.invert(again)))
        buffer.add(new_rows)
        buffer.flush()
        stats = writer.commit()
        low, high = buffer.min_row_id, buffer.max_row_id
    return MergeStats(
        rows=stats.rows,
        added=new_rows.num_rows - replaced,
        replaced=replaced,
        bytes=stats.bytes,
        min_row_id=low,
        max_row_id=high,
    )


class _Coalescer:
    """Buffers small tables and writes them as row groups of about ROW_GROUP_ROWS rows, so a day
    merged into a thousand times still reads as a few row groups."""

    def __init__(self, writer: PartitionWriter):
        self.writer = writer
        self.tables: list[pa.Table] = []
        self.rows = 0
        self.min_row_id: int | None = None
        self.max_row_id: int | None = None

    def add(self, table: pa.Table) -> None:
        if table.num_rows == 0:
            return
        low, high = pc.min_max(table.column("rowId")).values()
        if low.is_valid:
            self.min_row_id = _pick(min, self.min_row_id, low.as_py())
            self.max_row_id = _pick(max, self.max_row_id, high.as_py())
        self.tables.append(table)
        self.rows += table.num_rows
        if self.rows >= ROW_GROUP_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.tables:
            self.writer.write(pa.concat_tables(self.tables).combine_chunks())
        self.tables, self.rows = [], 0


def _pick(choose, current: int | None, value: int) -> int:
    return value if current is None else choose(current, value)


def landed_max_row_id(raw_dir: Path, report_key: str) -> int | None:
    """The largest rowId in any day file of a report (None when nothing has landed).

    Read from the Parquet footers' statistics, so it costs one small read per day file.
    """
    best: int | None = None
    for path in sorted((raw_dir / report_key).glob(f"date=*/{DATA_FILE}")):
        best = _pick(max, best, m) if (m := _file_max_row_id(path)) is not None else best
    return best


def _file_max_row_id(path: Path) -> int | None:
    metadata = pq.read_metadata(path)
    column = metadata.schema.names.index("rowId")
    best: int | None = None
    for i in range(metadata.num_row_groups):
        chunk = metadata.row_group(i).column(column)
        stats = chunk.statistics
        if stats is None or not stats.has_min_max:
            values = pq.read_table(path, columns=["rowId"]).column("rowId")
            high = pc.max(values).as_py()
            return high
        best = _pick(max, best, stats.max)
    return best
