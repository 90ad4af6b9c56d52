"""The benchmark probes run (tiny sizes) so they do not rot before ``make bench-workorders`` uses them."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from benchmarks.workorders_store import measure_append_events_per_s, measure_projection_events_per_s


def test_probes_return_rates_and_clean_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'bench.sqlite3'}"
    assert measure_append_events_per_s(url, 0.2, events_per_append=3) > 0
    assert measure_projection_events_per_s(url, 120, streams=4, batch_size=50, events_per_append=10) > 0
    tables = sa.inspect(sa.create_engine(url)).get_table_names()
    assert not [t for t in tables if t.startswith("bench_rm_")]
