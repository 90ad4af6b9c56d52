"""The one mapping from the gRPC command oneofs to ``domain.commands``, pinned against the proto."""

from __future__ import annotations

import dataclasses

import pytest

from services.contracts.pipewarden.workorders.v1 import workorders_service_pb2 as pb
from services.workorders.domain import commands
from services.workorders.entrypoints.grpc_api import COMMAND_CLASSES, BadRequest, command_of
from services.workorders.service_layer.auth import PERMISSIONS
from services.workorders.service_layer.handlers import COMMAND_HANDLERS

_ID_FIELDS = {"work_order_id", "hazard_id", "replacement_id"}


def test_every_command_has_a_handler_and_permissions() -> None:
    assert set(COMMAND_HANDLERS) == set(commands.COMMANDS)
    assert set(PERMISSIONS) == set(commands.COMMANDS)


def test_every_oneof_field_is_a_command_of_the_same_verb_and_fields() -> None:
    mapped = [cls for classes in COMMAND_CLASSES.values() for cls in classes.values()]
    assert sorted(c.__name__ for c in mapped) == sorted(c.__name__ for c in commands.COMMANDS)
    for request_type, classes in COMMAND_CLASSES.items():
        oneof = request_type.DESCRIPTOR.oneofs_by_name["command"]
        for field in oneof.fields:
            cls = classes[field.name]
            assert cls.verb == field.name
            assert field.message_type.name == f"{cls.__name__}Command"
            wire = {f.name for f in field.message_type.fields}
            python = {f.name for f in dataclasses.fields(cls)} - _ID_FIELDS
            assert wire == python, cls


def test_a_request_becomes_its_dataclass() -> None:
    request = pb.ExecuteWorkOrderCommandRequest(work_order_id="WO-1", defer=pb.DeferCommand(reevaluate_by_unix_us=5))
    assert command_of(request) == commands.Defer("WO-1", reevaluate_by_unix_us=5, reason="")
    record = pb.ExecuteHazardCommandRequest(record=pb.RecordHazardCommand(district="D1", description="x"))
    assert command_of(record) == commands.RecordHazard(district="D1", description="x")
    flag = pb.ExecuteReplacementCommandRequest(flag_problem_pipeline=pb.FlagProblemPipelineCommand(segment_id="S"))
    assert command_of(flag) == commands.FlagProblemPipeline(segment_id="S")


@pytest.mark.parametrize(
    "request_",
    [
        pb.ExecuteWorkOrderCommandRequest(work_order_id="WO"),
        pb.ExecuteWorkOrderCommandRequest(acknowledge=pb.AcknowledgeCommand()),
        pb.ExecuteHazardCommandRequest(start_rectification=pb.StartRectificationCommand()),
        pb.ExecuteWorkOrderCommandRequest(work_order_id="WO", hold=pb.HoldCommand(reason="bell\x07")),
    ],
)
def test_bad_requests_are_refused_before_the_service_layer(request_: object) -> None:
    with pytest.raises(BadRequest):
        command_of(request_)
