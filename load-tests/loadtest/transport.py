"""How the load tester reaches its target: plaintext or TLS gRPC, and Kafka with or without TLS/SASL.

Read from the environment so that the leak injector (a child process) follows its parent:
``PIPEWARDEN_LOADTEST_GRPC_TLS_CA_FILE`` (+ ``_GRPC_TLS_CERT_FILE``/``_KEY_FILE``) for gRPC (services/grpctls),
``PIPEWARDEN_KAFKA_SECURITY_PROTOCOL`` and companions for Kafka (services/kafkaconn). A deployment file with
``tls: true`` sets them (``use_deployment``); ``--tls-ca`` sets the first for ``--target`` runs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import grpc

from services.grpctls import ClientTLS
from services.grpctls import aio_channel as _aio_channel
from services.grpctls import channel as _channel
from services.kafkaconn import KafkaSecurity

GRPC_PREFIX = "PIPEWARDEN_LOADTEST_GRPC_"
CA_ENV = GRPC_PREFIX + "TLS_CA_FILE"


def use_deployment(deployment: Any) -> None:
    """Speak TLS to the deployment's servers and SASL_SSL to its broker when its file says ``tls: true``."""
    if not deployment.tls:
        return
    os.environ[CA_ENV] = str(deployment.tls_ca_file)
    os.environ.update(deployment.kafka_client_env())


def use_ca(ca_file: str) -> None:
    os.environ[CA_ENV] = ca_file


def grpc_tls() -> ClientTLS | None:
    return ClientTLS.from_env(GRPC_PREFIX)


def channel(target: str, options: Sequence[tuple[str, Any]] | None = None) -> grpc.Channel:
    return _channel(target, grpc_tls(), options)


def aio_channel(target: str, options: Sequence[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    return _aio_channel(target, grpc_tls(), options)


def kafka_kwargs() -> dict[str, Any]:
    """kafka-python keyword arguments for the target's broker (empty for PLAINTEXT)."""
    return KafkaSecurity.from_env().kafka_python_kwargs()
