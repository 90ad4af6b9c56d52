"""Queries over the read models: filtered work-order and hazard lists, and the named reports."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from services.eventstore import read_transaction
from services.eventstore.database import checkpoints
from services.network.model import Network
from services.workorders.adapters.read_models import (
    PROJECTION_NAME,
    hazard_from_row,
    hazard_overdue,
    hazards,
    order_from_row,
    problem_pipelines,
    replacement_targets,
    replacements,
    sla_breaches,
    view_from_row,
    work_orders,
)
from services.workorders.domain.hazard import LedgerEntry, hazard_figures, ledger
from services.workorders.service_layer.views import HazardFilter, HazardView, Table, WorkOrderFilter, WorkOrderView

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
REPORTS = (
    "open-work-orders",
    "sla-breaches",
    "response-times",
    "leaks-per-100km",
    "replacement",
    "inventory",
    "problem-pipelines",
    "hazards",
    "major-hazards",
    "rectification",
    "overdue-hazards",
)
LEDGER_COLUMNS = (
    "found_at",
    "district",
    "hazard_id",
    "found_by",
    "location",
    "description",
    "reported_via",
    "interim_measures",
    "major",
    "responsible_unit",
    "supervising_department",
    "deadline",
    "state",
    "signed",
    "overdue",
)


def utc_text(unix_us: int | None) -> str:
    """``YYYY-MM-DD HH:MM`` (UTC) for report cells; ``-`` when unset."""
    if unix_us is None:
        return "-"
    return datetime.fromtimestamp(unix_us / US_PER_S, UTC).strftime("%Y-%m-%d %H:%M")


def _ledger_row(e: LedgerEntry) -> tuple[object, ...]:
    return (
        utc_text(e.found_at_unix_us),
        e.district,
        e.hazard_id,
        e.found_by,
        e.location_text,
        e.description,
        e.reported_via,
        e.interim_measures or "-",
        "yes" if e.major else "no",
        e.responsible_unit or "-",
        e.supervising_department or "-",
        utc_text(e.deadline_unix_us),
        e.status.value,
        f"{e.signatures}/{e.levels}",
        "yes" if e.overdue else "no",
    )


def hazard_view_from_row(row: Any, now_unix_us: int) -> HazardView:
    hazard = hazard_from_row(row)
    deadline = row["deadline_unix_us"]
    levels = hazard.sign_off_levels
    next_role = levels[hazard.next_level - 1] if hazard.next_level is not None else ""
    return HazardView(
        hazard_id=row["hazard_id"],
        version=int(row["version"]),
        state=row["state"],
        district=row["district"],
        major=bool(row["major"]),
        description=row["description"],
        location=row["location_text"],
        responsible_unit=row["responsible_unit"],
        supervising_department=row["supervising_department"],
        found_at_unix_us=int(row["found_at_unix_us"]),
        deadline_unix_us=int(deadline or 0),
        rectified_at_unix_us=int(row["struck_off_at_unix_us"] or 0),
        overdue=bool(row["is_open"]) and deadline is not None and now_unix_us > int(deadline),
        detail_json=row["state_json"],
        source=row["source"],
        found_by=row["found_by"],
        reported_via=row["reported_via"],
        interim_measures=row["interim_measures"],
        segment_id=row["segment_id"],
        signatures=int(row["signatures"]),
        sign_off_levels=int(row["sign_off_levels"]),
        next_sign_off_role=next_role,
        rejections=int(row["rejections"]),
    )


class ReadModelQueries:
    def __init__(self, engine: sa.Engine, network: Network, *, report_utc_offset_s: int = 0) -> None:
        self.engine = engine
        self.network = network
        # yearly reports count calendar years in the utility's local time (WorkOrdersConfig.report_utc_offset_h)
        self.report_utc_offset_s = report_utc_offset_s

    @staticmethod
    def _as_of(conn: sa.Connection) -> int:
        position = conn.execute(
            sa.select(checkpoints.c.position).where(checkpoints.c.name == PROJECTION_NAME)
        ).scalar_one_or_none()
        return int(position or 0)

    def list_work_orders(self, filt: WorkOrderFilter, *, now_unix_us: int) -> tuple[list[WorkOrderView], int]:
        t = work_orders
        query = sa.select(t)
        if filt.districts is not None:
            query = query.where(t.c.district.in_(sorted(filt.districts)))
        if filt.grades:
            query = query.where(t.c.grade.in_(sorted(filt.grades)))
        if filt.states:
            query = query.where(t.c.state.in_(sorted(filt.states)))
        if filt.open_only:
            query = query.where(t.c.is_open.is_(True))
        if filt.min_age_s > 0:
            query = query.where(t.c.received_at_unix_us <= now_unix_us - int(filt.min_age_s * US_PER_S))
        if filt.max_age_s > 0:
            query = query.where(t.c.received_at_unix_us >= now_unix_us - int(filt.max_age_s * US_PER_S))
        query = query.order_by(t.c.received_at_unix_us.desc(), t.c.work_order_id).limit(filt.limit).offset(filt.offset)
        with read_transaction(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
            as_of = self._as_of(conn)
        return [view_from_row(r) for r in rows], as_of

    def list_hazards(self, filt: HazardFilter, *, now_unix_us: int) -> tuple[list[HazardView], int]:
        t = hazards
        query = sa.select(t)
        if filt.districts is not None:
            query = query.where(t.c.district.in_(sorted(filt.districts)))
        if filt.states:
            query = query.where(t.c.state.in_(sorted(filt.states)))
        if filt.major_only:
            query = query.where(t.c.major.is_(True))
        if filt.overdue_only:
            query = query.where(t.c.is_open.is_(True), t.c.deadline_unix_us < now_unix_us)
        query = query.order_by(t.c.found_at_unix_us.desc(), t.c.hazard_id).limit(filt.limit).offset(filt.offset)
        with read_transaction(self.engine) as conn:
            rows = conn.execute(query).mappings().all()
            as_of = self._as_of(conn)
        return [hazard_view_from_row(r, now_unix_us) for r in rows], as_of

    def overdue_hazard_ids(self, now_unix_us: int) -> list[str]:
        """Open hazards past their deadline (candidates for the hazard ticker)."""
        t = hazards
        query = (
            sa.select(t.c.hazard_id)
            .where(t.c.is_open.is_(True), t.c.deadline_unix_us < now_unix_us)
            .order_by(t.c.deadline_unix_us, t.c.hazard_id)
        )
        with read_transaction(self.engine) as conn:
            return [r[0] for r in conn.execute(query)]

    def work_order_row(self, work_order_id: str) -> WorkOrderView | None:
        with read_transaction(self.engine) as conn:
            row = conn.execute(sa.select(work_orders).where(work_orders.c.work_order_id == work_order_id)).mappings()
            found = row.one_or_none()
        return None if found is None else view_from_row(found)

    def districts_of(self, stream_ids: list[str]) -> dict[str, str]:
        if not stream_ids:
            return {}
        with read_transaction(self.engine) as conn:
            rows = list(
                conn.execute(
                    sa.select(work_orders.c.work_order_id, work_orders.c.district).where(
                        work_orders.c.work_order_id.in_(stream_ids)
                    )
                ).all()
            )
            rows += conn.execute(
                sa.select(hazards.c.hazard_id, hazards.c.district).where(hazards.c.hazard_id.in_(stream_ids))
            ).all()
        return {r[0]: r[1] for r in rows}

    # -- reports ---------------------------------------------------------------------------------------

    def report(self, name: str, *, now_unix_us: int, districts: frozenset[str] | None) -> tuple[Table, int]:
        builders = {
            "open-work-orders": self._open_work_orders,
            "sla-breaches": self._sla_breaches,
            "response-times": self._response_times,
            "leaks-per-100km": self._leaks_per_100km,
            "replacement": self._replacement,
            "inventory": self._inventory,
            "problem-pipelines": self._problem_pipelines,
            "hazards": self._hazard_ledger,
            "major-hazards": self._major_hazard_ledger,
            "rectification": self._rectification,
            "overdue-hazards": self._overdue_hazards,
        }
        if name not in builders:
            raise ValueError(f"unknown report {name!r}; known: {', '.join(REPORTS)}")
        with read_transaction(self.engine) as conn:
            table = builders[name](conn, now_unix_us, districts)
            return table, self._as_of(conn)

    @staticmethod
    def _district_filter(query: Any, column: Any, districts: frozenset[str] | None) -> Any:
        return query if districts is None else query.where(column.in_(sorted(districts)))

    def _open_work_orders(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        t = work_orders
        query = self._district_filter(
            sa.select(t.c.district, t.c.grade, t.c.received_at_unix_us).where(t.c.is_open.is_(True)),
            t.c.district,
            districts,
        )
        buckets: dict[tuple[str, int], list[float]] = defaultdict(list)
        for district, grade, received in conn.execute(query):
            buckets[(district, int(grade))].append(max(0.0, (now - int(received)) / US_PER_S / 3600.0))
        rows = []
        for (district, grade), ages in sorted(buckets.items()):
            rows.append(
                (
                    district,
                    grade,
                    len(ages),
                    sum(1 for a in ages if a < 1),
                    sum(1 for a in ages if 1 <= a < 24),
                    sum(1 for a in ages if a >= 24),
                    round(max(ages), 3),
                )
            )
        return Table(
            "open-work-orders",
            ("district", "grade", "open", "age_lt_1h", "age_1h_24h", "age_ge_24h", "oldest_h"),
            tuple(rows),
        )

    def _sla_breaches(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        t = sla_breaches
        query = self._district_filter(sa.select(t), t.c.district, districts).order_by(
            t.c.breached_at_unix_us, t.c.work_order_id, t.c.breach_key
        )
        rows = tuple(
            (
                r["district"],
                r["work_order_id"],
                r["grade"],
                r["kind"],
                r["severity"],
                round((r["breached_at_unix_us"] - r["deadline_unix_us"]) / US_PER_S / 60.0, 1),
            )
            for r in conn.execute(query).mappings()
        )
        return Table("sla-breaches", ("district", "work_order_id", "grade", "kind", "severity", "late_by_min"), rows)

    def _response_times(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        t = work_orders
        query = self._district_filter(
            sa.select(t.c.district, t.c.grade, t.c.state_json).where(t.c.state != "cancelled"),
            t.c.district,
            districts,
        )
        acc: dict[tuple[str, int], list[list[float]]] = defaultdict(lambda: [[], [], []])
        # The aggregate's own timings: they run from the response clock start (the alarm's time, or a
        # reopening), as the SLA timers do, not from the row's time received.
        for row in conn.execute(query).mappings():
            timings = order_from_row(row).timings()
            lists = acc[(row["district"], int(row["grade"]))]
            for i, seconds in enumerate((timings.to_arrive_s, timings.to_make_safe_s, timings.to_repair_s)):
                if seconds is not None:
                    lists[i].append(seconds / 60.0)

        def mean(values: list[float]) -> object:
            return round(sum(values) / len(values), 2) if values else "-"

        rows = tuple(
            (district, grade, len(a), mean(a), len(s), mean(s), len(r), mean(r))
            for (district, grade), (a, s, r) in sorted(acc.items())
        )
        return Table(
            "response-times",
            (
                "district",
                "grade",
                "arrived",
                "mean_to_arrive_min",
                "made_safe",
                "mean_to_make_safe_min",
                "repaired",
                "mean_to_repair_min",
            ),
            rows,
        )

    def _leaks_per_100km(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        t = work_orders
        counts: dict[str, int] = dict(
            conn.execute(
                sa.select(t.c.district, sa.func.count()).where(t.c.state != "cancelled").group_by(t.c.district)
            ).all()
        )
        km: dict[str, float] = defaultdict(float)
        for segment in self.network.segments.values():
            km[segment.district] += segment.length_m / 1000.0
        rows = []
        for district in sorted(set(km) | set(counts)):
            if districts is not None and district not in districts:
                continue
            leaks = int(counts.get(district, 0))
            length = km.get(district, 0.0)
            rate: object = round(leaks / length * 100.0, 3) if length > 0 else "-"
            rows.append((district, leaks, round(length, 3), rate))
        return Table("leaks-per-100km", ("district", "leaks", "network_km", "leaks_per_100km"), tuple(rows))

    @staticmethod
    def _facts(conn: sa.Connection) -> list[Any]:
        import json

        from services.workorders.domain.replacement import Replacement

        facts = []
        for (state_json,) in conn.execute(sa.select(replacements.c.state_json)):
            facts.append(Replacement.from_snapshot(json.loads(state_json)).fact())
        return facts

    def _replacement(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        from datetime import UTC, datetime

        from services.workorders.domain.replacement import YearlyTarget, programme_progress, year_bounds_unix_us
        from services.workorders.domain.values import PipeClass

        offset_s = self.report_utc_offset_s
        year = datetime.fromtimestamp(now / US_PER_S + offset_s, UTC).year
        targets = [
            YearlyTarget(year=r.year, district=r.district, pipe_class=PipeClass(r.pipe_class), target_km=r.target_km)
            for r in conn.execute(sa.select(replacement_targets))
        ]
        rows = tuple(
            (
                f"{row.district}/{row.pipe_class.value}",
                row.district,
                row.pipe_class.value,
                round(row.target_km, 3),
                round(row.built_km, 3),
                round(row.replaced_km, 3),
                round(row.pct_of_target, 1) if row.pct_of_target is not None else "-",
            )
            for row in programme_progress(
                targets, self._facts(conn), year=year, period_unix_us=year_bounds_unix_us(year, offset_s)
            )
            if districts is None or row.district in districts
        )
        return Table(
            f"replacement-{year}",
            ("line", "district", "pipe_class", "target_km", "built_km", "replaced_km", "pct_of_target"),
            rows,
        )

    def _inventory(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        from services.workorders.domain.replacement import remaining_inventory_by_material

        remaining = remaining_inventory_by_material(self._problems(conn, districts), self._facts(conn))
        return Table("inventory", ("material", "remaining_km"), tuple((m, round(km, 3)) for m, km in remaining.items()))

    def _problem_pipelines(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        """Every flagged problem pipeline with its km still to replace (0: replaced and verified)."""
        from services.workorders.domain.replacement import remaining_km_by_problem

        rows = sorted(
            (
                p.segment.segment_id,
                p.segment.district,
                p.segment.material,
                p.segment.pipe_class,
                round(p.segment.length_km, 3),
                round(left_km, 3),
                ",".join(reason.value for reason in p.reasons),
                p.flagged_at_unix_us,
            )
            for p, left_km in remaining_km_by_problem(self._problems(conn, districts), self._facts(conn))
        )
        columns = (
            "segment_id", "district", "material", "pipe_class", "length_km", "remaining_km", "reasons",
            "flagged_at_unix_us",
        )
        return Table("problem-pipelines", columns, tuple(rows))

    def _problems(self, conn: sa.Connection, districts: frozenset[str] | None) -> list[Any]:
        from services.workorders.adapters.network import segment_context
        from services.workorders.domain.replacement import ProblemPipeline, ProblemReason

        problems = []
        for r in conn.execute(sa.select(problem_pipelines)):
            segment = self.network.segments.get(r.segment_id)
            if segment is None or (districts is not None and segment.district not in districts):
                continue
            problems.append(
                ProblemPipeline(
                    segment=segment_context(segment),
                    reasons=tuple(ProblemReason(x) for x in r.reasons.split(",") if x),
                    flagged_at_unix_us=int(r.flagged_at_unix_us),
                )
            )
        return problems

    # -- hazards ---------------------------------------------------------------------------------------

    def _hazards(self, conn: sa.Connection, districts: frozenset[str] | None) -> list[Any]:
        query = self._district_filter(sa.select(hazards.c.state_json), hazards.c.district, districts)
        return [hazard_from_row(r) for r in conn.execute(query.order_by(hazards.c.hazard_id)).mappings()]

    def _hazard_ledger(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        entries = ledger(self._hazards(conn, districts), now)
        return Table("hazards", LEDGER_COLUMNS, tuple(_ledger_row(e) for e in entries))

    def _major_hazard_ledger(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        entries = ledger(self._hazards(conn, districts), now, major=True)
        return Table("major-hazards", LEDGER_COLUMNS, tuple(_ledger_row(e) for e in entries))

    def _rectification(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        """Hazards found vs rectified (struck off) and the rectification rate, by district and in total."""
        by_district: dict[str, list[Any]] = defaultdict(list)
        everything = self._hazards(conn, districts)
        for hazard in everything:
            by_district[hazard.district].append(hazard)

        def line(name: str, items: list[Any]) -> tuple[object, ...]:
            f = hazard_figures(items, now)
            rate: object = round(100.0 * f.rectification_rate, 1) if f.rectification_rate is not None else "-"
            return (name, f.found, f.rectified, rate, f.major_found, f.major_rectified, f.overdue)

        rows = [line(d, by_district[d]) for d in sorted(by_district)]
        if rows:
            rows.append(line("(all)", everything))
        return Table(
            "rectification",
            ("district", "found", "rectified", "rectification_pct", "major_found", "major_rectified", "overdue"),
            tuple(rows),
        )

    def _overdue_hazards(self, conn: sa.Connection, now: int, districts: frozenset[str] | None) -> Table:
        """Open hazards past their deadline now, with when the escalation for that deadline was recorded."""
        t = hazards
        query = self._district_filter(
            sa.select(t).where(t.c.is_open.is_(True), t.c.deadline_unix_us < now), t.c.district, districts
        ).order_by(t.c.deadline_unix_us, t.c.hazard_id)
        escalated = {
            (r.hazard_id, int(r.deadline_unix_us)): int(r.escalated_at_unix_us)
            for r in conn.execute(sa.select(hazard_overdue))
        }
        rows = tuple(
            (
                r["district"],
                r["hazard_id"],
                "yes" if r["major"] else "no",
                r["responsible_unit"] or "-",
                r["supervising_department"] or "-",
                r["state"],
                utc_text(int(r["deadline_unix_us"])),
                round((now - int(r["deadline_unix_us"])) / US_PER_DAY, 3),
                utc_text(escalated.get((r["hazard_id"], int(r["deadline_unix_us"])))),
            )
            for r in conn.execute(query).mappings()
        )
        return Table(
            "overdue-hazards",
            (
                "district",
                "hazard_id",
                "major",
                "responsible_unit",
                "supervising_department",
                "state",
                "deadline",
                "days_overdue",
                "escalated_at",
            ),
            rows,
        )
