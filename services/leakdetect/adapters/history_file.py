"""Historian exports (CSV or parquet) -> validated reading arrays for the replay CLI.

Columns: `tag_id,time_unix_s,value,quality` (and optionally `unit`, which must then be the tag's), values in
the tags' own units as the network file declares them. Every row is either used or refused with its line
(CSV: the file's line number; parquet: the row number from 1) and the problem: unknown tag, unparseable or
implausible time, unparseable value, quality outside the codes, wrong unit (a declared unit that is not the
tag's, or a value so far outside the tag's range that it cannot be in the tag's unit), a time not after the
tag's previous one (out of order or duplicated). Whole-file problems (missing, empty, no readings, columns
missing or unknown, a damaged parquet file) raise `HistoryFileError`. Checks run on numpy arrays a chunk
at a time: no Python per row, except for the refused rows' messages.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from services.network.quality import QUALITY_MAX

COLUMNS = ("tag_id", "time_unix_s", "value", "quality")
OPTIONAL_COLUMNS = ("unit",)
# Seconds since the Unix epoch between 2000 and 2100: outside it the column is milliseconds, or not times.
EARLIEST_TIME_S = 946_684_800.0
LATEST_TIME_S = 4_102_444_800.0
# A value this many spans outside the tag's range is in another unit (kPa for MPa, ...), not a reading.
WRONG_UNIT_SPANS = 2.0
EXAMPLES_PER_PROBLEM = 20
CHUNK_ROWS = 1_000_000

PROBLEMS = ("unknown tag", "unparseable time", "implausible time", "unparseable value", "bad quality",
            "wrong unit", "out-of-order time", "duplicated time")


class HistoryFileError(ValueError):
    """The file as a whole cannot be replayed."""

    def __init__(self, path: Path | str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


@dataclass(frozen=True)
class TagInfo:
    """What the loader checks a tag's rows against (units and range as the network file declares them)."""

    tag_ids: Sequence[str]
    units: Sequence[str]
    range_min: npt.NDArray[np.float64]
    range_max: npt.NDArray[np.float64]


@dataclass
class History:
    path: str
    tag_index: npt.NDArray[np.int32]
    time_unix_us: npt.NDArray[np.int64]
    value: npt.NDArray[np.float64]  # the tags' own units
    quality: npt.NDArray[np.int8]
    rows: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)  # "<file>:<line>: <problem>", the first of each problem

    @property
    def refused_rows(self) -> int:
        return sum(self.refused.values())


def read_history(path: str | Path, tags: TagInfo, progress: Callable[[int, float], None] | None = None,
                 chunk_rows: int = CHUNK_ROWS) -> History:
    """Read and check a historian export; `progress(rows_so_far, fraction_of_file)` after every chunk."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise HistoryFileError(path, f"unknown file type {suffix or '(none)'!r}: want .csv or .parquet")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise HistoryFileError(path, f"cannot be read: {exc.strerror or exc}") from exc
    if size == 0:
        raise HistoryFileError(path, "is empty")
    checker = _Checker(path, tags, line_offset=2 if suffix == ".csv" else 1)
    chunks = _csv_chunks(path, chunk_rows, size) if suffix == ".csv" else _parquet_chunks(path, chunk_rows)
    for frame, fraction in chunks:
        checker.check(frame)
        if progress is not None:
            progress(checker.rows, fraction)
    if checker.rows == 0:
        raise HistoryFileError(path, "has no readings (a header and nothing else)")
    return checker.result()


def _check_columns(path: Path, columns: Sequence[str]) -> None:
    cols = [str(c) for c in columns]
    missing = [c for c in COLUMNS if c not in cols]
    unknown = [c for c in cols if c not in COLUMNS and c not in OPTIONAL_COLUMNS]
    if missing or unknown:
        what = "; ".join(x for x in (f"lacks {', '.join(missing)}" if missing else "",
                                     f"has unknown {', '.join(unknown)}" if unknown else "") if x)
        raise HistoryFileError(path, f"columns {what}: want {','.join(COLUMNS)} (optionally unit)")


def _csv_chunks(path: Path, chunk_rows: int, size: int) -> Iterator[tuple[pd.DataFrame, float]]:
    try:
        with open(path, "rb") as fh:
            header = fh.readline().decode("utf-8", errors="replace").strip()
            if not header:
                raise HistoryFileError(path, "line 1: no header (want tag_id,time_unix_s,value,quality)")
            names = [c.strip() for c in header.split(",")]
            _check_columns(path, names)
            # pandas would take extra fields of the first row for an index and silently shift the columns
            # (later rows with extra fields are its ParserError, which names the line)
            first = fh.readline().decode("utf-8", errors="replace").strip()
            if first and first.count(",") + 1 != len(names):
                raise HistoryFileError(path, f"line 2: {first.count(',') + 1} fields, the header has {len(names)}")
            fh.seek(0)
            reader = pd.read_csv(
                fh, chunksize=chunk_rows, dtype={"tag_id": "category", "unit": "category"}, header=0, names=names,
                index_col=False, skip_blank_lines=False, skipinitialspace=True, encoding_errors="replace",
            )
            for frame in reader:
                yield frame, min(1.0, fh.tell() / size)
    except HistoryFileError:
        raise
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise HistoryFileError(path, f"is not a CSV file of readings: {str(exc).strip()}") from exc
    except OSError as exc:
        raise HistoryFileError(path, f"cannot be read: {exc.strerror or exc}") from exc


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[tuple[pd.DataFrame, float]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
        _check_columns(path, pf.schema_arrow.names)
        total = max(1, pf.metadata.num_rows)
        done = 0
        for batch in pf.iter_batches(batch_size=chunk_rows):
            frame = batch.to_pandas()
            done += len(frame)
            yield frame, done / total
    except HistoryFileError:
        raise
    except Exception as exc:  # pyarrow raises its own error types for damaged files
        raise HistoryFileError(path, f"is not a parquet file of readings: {exc}") from exc


def _numeric(col: pd.Series) -> npt.NDArray[np.float64]:
    if col.dtype.kind in "fiu":
        return col.to_numpy(dtype=np.float64)
    return pd.to_numeric(col.astype(str).str.strip(), errors="coerce").to_numpy(dtype=np.float64)


class _Checker:
    def __init__(self, path: Path, tags: TagInfo, line_offset: int) -> None:
        self.path = path
        self.tags = tags
        self.line_offset = line_offset  # file line of row 0
        self.index = {t: i for i, t in enumerate(tags.tag_ids)}
        span = tags.range_max - tags.range_min
        self.lo = tags.range_min - WRONG_UNIT_SPANS * span
        self.hi = tags.range_max + WRONG_UNIT_SPANS * span
        self.last_time = np.full(len(tags.tag_ids), np.iinfo(np.int64).min, np.int64)
        self.rows = 0
        self.refused: dict[str, int] = {}
        self.examples: list[str] = []
        self._shown: dict[str, int] = {}
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []

    def _refuse(self, problem: str, rows: npt.NDArray[np.int64], detail: Callable[[int], str]) -> None:
        if rows.size == 0:
            return
        self.refused[problem] = self.refused.get(problem, 0) + int(rows.size)
        shown = self._shown.get(problem, 0)
        for r in rows[: max(0, EXAMPLES_PER_PROBLEM - shown)]:
            self.examples.append(f"{self.path}:{self.line_offset + self.rows + int(r)}: {problem}: {detail(int(r))}")
        self._shown[problem] = shown + min(int(rows.size), EXAMPLES_PER_PROBLEM)

    def check(self, frame: pd.DataFrame) -> None:
        n = len(frame)
        ok = np.ones(n, bool)
        raw_tag = frame["tag_id"]
        if not isinstance(raw_tag.dtype, pd.CategoricalDtype):
            raw_tag = raw_tag.astype(str).astype("category")
        cats = [str(c).strip() for c in raw_tag.cat.categories]
        lookup = np.array([self.index.get(c, -1) for c in cats] + [-1], np.int64)  # code -1 (blank) -> last
        tag = lookup[raw_tag.cat.codes.to_numpy()]

        def tag_text(r: int) -> str:  # for messages only: a str per row would cost more than the checks
            return str(raw_tag.iloc[r]).strip()

        def text(col: str) -> Callable[[int], str]:
            return lambda r: repr(str(frame[col].iloc[r]))

        bad = np.flatnonzero(tag < 0)
        self._refuse("unknown tag", bad, lambda r: f"{tag_text(r)!r} is not a tag of the network")
        ok[bad] = False
        t = _numeric(frame["time_unix_s"])
        bad = np.flatnonzero(ok & ~np.isfinite(t))
        self._refuse("unparseable time", bad,
                     lambda r: f"{text('time_unix_s')(r)} is not seconds since the Unix epoch")
        ok[bad] = False
        bad = np.flatnonzero(ok & ((t < EARLIEST_TIME_S) | (t > LATEST_TIME_S)))
        self._refuse("implausible time", bad,
                     lambda r: f"{t[r]:.6f} s is not between 2000 and 2100 (milliseconds? want seconds)")
        ok[bad] = False
        v = _numeric(frame["value"])
        bad = np.flatnonzero(ok & ~np.isfinite(v))
        self._refuse("unparseable value", bad, lambda r: f"{text('value')(r)} is not a finite number")
        ok[bad] = False
        q = _numeric(frame["quality"])
        bad = np.flatnonzero(ok & ~((q >= 0) & (q <= QUALITY_MAX) & (q == np.round(q))))
        self._refuse("bad quality", bad, lambda r: f"{text('quality')(r)} is not a quality code 0..{QUALITY_MAX}")
        ok[bad] = False
        safe_tag = np.where(tag >= 0, tag, 0)
        if "unit" in frame.columns:
            unit = frame["unit"].astype(str).str.strip().to_numpy()
            want = np.asarray(self.tags.units, dtype=object)[safe_tag]
            bad = np.flatnonzero(ok & (unit != want))
            self._refuse("wrong unit", bad, lambda r: f"{unit[r]!r}, the network file declares {want[r]!r} for "
                                                      f"{tag_text(r)}")
            ok[bad] = False
        bad = np.flatnonzero(ok & ((v < self.lo[safe_tag]) | (v > self.hi[safe_tag])))
        self._refuse("wrong unit", bad, lambda r: (
            f"{v[r]:g} is far outside {tag_text(r)}'s range [{self.tags.range_min[tag[r]]:g}, "
            f"{self.tags.range_max[tag[r]]:g}] {self.tags.units[tag[r]]}: another unit?"))
        ok[bad] = False
        keep = np.flatnonzero(ok)
        t_us = np.round(t[keep] * 1e6).astype(np.int64)
        kt = tag[keep]
        # order per tag, in file order: a time must be after every earlier time of its tag
        order = np.argsort(kt, kind="stable")
        st, stt = kt[order], t_us[order]
        first = np.ones(st.size, bool)
        first[1:] = st[1:] != st[:-1]
        prev = np.empty_like(stt)
        prev[1:] = stt[:-1]
        prev[first] = self.last_time[st[first]]
        if bool(np.any(stt <= prev)):  # the rare path: compare with the running maximum of the tag's times
            run_max = pd.Series(stt).groupby(st).cummax().to_numpy()
            prev[1:] = run_max[:-1]
            prev[first] = self.last_time[st[first]]
        else:
            run_max = stt
        dup = order[stt == prev]
        late = order[stt < prev]
        self._refuse("duplicated time", keep[dup], lambda r: f"{tag_text(r)} has a reading at {t[r]:.6f} already")
        self._refuse("out-of-order time", keep[late],
                     lambda r: f"{t[r]:.6f} is before an earlier reading of {tag_text(r)}")
        if st.size:
            last = np.flatnonzero(np.r_[st[1:] != st[:-1], True])
            self.last_time[st[last]] = np.maximum(self.last_time[st[last]], run_max[last])
        good = np.ones(keep.size, bool)
        good[dup] = False
        good[late] = False
        self.parts.append((kt[good].astype(np.int32), t_us[good], v[keep][good], q[keep][good].astype(np.int8)))
        self.rows += n

    def result(self) -> History:
        def cat(i: int, dtype: Any) -> Any:
            return np.concatenate([p[i] for p in self.parts]) if self.parts else np.zeros(0, dtype)

        return History(str(self.path), cat(0, np.int32), cat(1, np.int64), cat(2, np.float64), cat(3, np.int8),
                       rows=self.rows, refused=dict(self.refused), examples=list(self.examples))
