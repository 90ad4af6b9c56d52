"""workorders' gRPC API (grpc.aio) behind the ``WorkOrdersApi`` port, called with the user's token."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import grpc

from services.console.domain.actions import CommandForm
from services.console.domain.orders import Order, QueueFilter, parse_detail
from services.console.domain.records import Change, Hazard, Table
from services.console.service_layer.ports import ApiRefusal
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2_grpc as pb_grpc
from services.grpctls import ClientTLS, aio_channel

CALL_TIMEOUT_S = 10.0
PAGE_SIZE = 1000


def order_of(message: pb.WorkOrder) -> Order:
    return Order(
        work_order_id=message.work_order_id,
        version=message.version,
        state=message.state,
        grade=message.grade,
        segment_id=message.segment_id,
        district=message.district,
        pipe_class=message.pipe_class,
        material=message.material,
        opened_at_unix_us=message.opened_at_unix_us,
        crew_id=message.crew_id,
        arrived_at_unix_us=message.arrived_at_unix_us,
        made_safe_at_unix_us=message.made_safe_at_unix_us,
        sla_breaches=tuple(message.sla_breaches),
        detail=parse_detail(message.detail_json),
        location=message.location,
    )


def hazard_of(h: pb.Hazard) -> Hazard:
    return Hazard(
        hazard_id=h.hazard_id, state=h.state, district=h.district, major=h.major, description=h.description,
        location=h.location, responsible_unit=h.responsible_unit, supervising_department=h.supervising_department,
        found_at_unix_us=h.found_at_unix_us, deadline_unix_us=h.deadline_unix_us, overdue=h.overdue,
        source=h.source, found_by=h.found_by, reported_via=h.reported_via, interim_measures=h.interim_measures,
        segment_id=h.segment_id, signatures=h.signatures, sign_off_levels=h.sign_off_levels,
        next_sign_off_role=h.next_sign_off_role,
    )


def change_of(m: pb.WatchResponse) -> Change:
    kind = "work_order" if m.HasField("work_order") else "hazard" if m.HasField("hazard") else "other"
    return Change(
        position=m.position, stream_id=m.stream_id, stream_version=m.stream_version, event_type=m.event_type,
        district=m.district, actor=m.actor, recorded_at_unix_us=m.recorded_at_unix_us,
        payload_json=m.payload_json, heartbeat=m.heartbeat,
        order=order_of(m.work_order) if m.HasField("work_order") else None, kind=kind,
    )


def _refusal(error: grpc.aio.AioRpcError) -> ApiRefusal:
    code = error.code()
    return ApiRefusal(code.name if code is not None else "UNKNOWN", error.details() or "no details")


class GrpcWorkOrders:
    def __init__(self, address: str, tls: ClientTLS | None = None) -> None:
        self.address = address
        self._tls = tls  # None: plaintext
        self._channel: grpc.aio.Channel | None = None
        self._stub: pb_grpc.WorkOrdersServiceStub | None = None

    def _client(self) -> pb_grpc.WorkOrdersServiceStub:
        # Created on first use, inside the serving event loop (grpc.aio channels belong to one loop).
        if self._stub is None:
            self._channel = aio_channel(self.address, self._tls, options=[
                ("grpc.max_receive_message_length", 64 * 1024 * 1024),
                # After workorders restarts (or when the console started first) calls fail fast while the channel
                # waits to reconnect: gRPC's default backoff grows to 2 min; a console is back within 2 s.
                ("grpc.initial_reconnect_backoff_ms", 250),
                ("grpc.min_reconnect_backoff_ms", 250),
                ("grpc.max_reconnect_backoff_ms", 2000),
            ])
            self._stub = pb_grpc.WorkOrdersServiceStub(self._channel)
        return self._stub

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = self._stub = None

    @staticmethod
    def _meta(token: str) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {token}"),)

    async def _call(self, method: str, request: Any, token: str) -> Any:
        try:
            return await getattr(self._client(), method)(request, metadata=self._meta(token), timeout=CALL_TIMEOUT_S)
        except grpc.aio.AioRpcError as error:
            raise _refusal(error) from None

    async def list_orders(self, token: str, flt: QueueFilter, *, open_only: bool = True,
                          limit: int = 5000) -> tuple[list[Order], int]:
        orders: list[Order] = []
        page_token = ""
        position = 0
        while len(orders) < limit:
            request = pb.ListWorkOrdersRequest(
                districts=list(flt.districts), grades=list(flt.grades), states=list(flt.states),
                open_only=open_only, page_size=min(PAGE_SIZE, limit - len(orders)), page_token=page_token,
            )
            reply = await self._call("ListWorkOrders", request, token)
            position = position or reply.as_of_position
            orders.extend(order_of(w) for w in reply.work_orders)
            page_token = reply.next_page_token
            if not page_token:
                break
        return orders, position

    async def get_order(self, token: str, work_order_id: str) -> Order:
        reply = await self._call("GetWorkOrder", pb.GetWorkOrderRequest(work_order_id=work_order_id), token)
        return order_of(reply.work_order)

    async def execute(self, token: str, form: CommandForm) -> Order:
        request = pb.ExecuteWorkOrderCommandRequest(
            work_order_id=form.work_order_id,
            context=pb.CommandContext(
                expected_version=form.expected_version, command_id=form.command_id,
                correlation_id=form.command_id or str(uuid.uuid4()),
            ),
        )
        getattr(request, form.verb).SetInParent()  # a command without fields is still the chosen oneof
        for name, value in form.fields.items():
            setattr(getattr(request, form.verb), name, value)
        reply = await self._call("ExecuteWorkOrderCommand", request, token)
        return order_of(reply.work_order)

    async def list_hazards(self, token: str, *, districts: Sequence[str] = (), states: Sequence[str] = (),
                           major_only: bool = False, overdue_only: bool = False) -> list[Hazard]:
        hazards: list[Hazard] = []
        page_token = ""
        while len(hazards) < 5000:
            request = pb.ListHazardsRequest(
                districts=list(districts), states=list(states), major_only=major_only, overdue_only=overdue_only,
                page_size=PAGE_SIZE, page_token=page_token,
            )
            reply = await self._call("ListHazards", request, token)
            hazards.extend(hazard_of(h) for h in reply.hazards)
            page_token = reply.next_page_token
            if not page_token:
                break
        return hazards

    async def report(self, token: str, name: str) -> Table:
        reply = await self._call("GetReport", pb.GetReportRequest(name=name), token)
        return Table(reply.name, tuple(reply.table.columns), tuple(tuple(r.cells) for r in reply.table.rows))

    async def watch(self, token: str, after_position: int, districts: Sequence[str] = ()) -> AsyncIterator[Change]:
        call = self._client().Watch(
            pb.WatchRequest(after_position=after_position, districts=list(districts)), metadata=self._meta(token)
        )
        try:
            async for message in call:
                yield change_of(message)
        except grpc.aio.AioRpcError as error:
            raise _refusal(error) from None
        finally:
            call.cancel()
