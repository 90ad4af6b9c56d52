"""How the load tester reaches its target: plaintext or TLS gRPC, and Kafka with or without TLS/SASL.

Read from the environment so that the leak injector (a child process) follows its parent:
``PIPEWARDEN_LOADTEST_GRPC_TLS_CA_FILE`` (+ ``_GRPC_TLS_CERT_FILE``/``_KEY_FILE``) for gRPC (services/grpctls),
``PIPEWARDEN_KAFKA_SECURITY_PROTOCOL`` and companions for Kafka (services/kafkaconn). A deployment file with
``tls: true`` sets them (``use_deployment``); ``--tls-ca`` sets the first for ``--target`` runs. With
``PIPEWARDEN_LOADTEST_GRPC_TLS_GATEWAY_CERT_DIR`` (a TLS deployment: telemetry asks for mutual TLS) every gateway
presents its own client certificate, ``<dir>/<gateway id>.pem`` and ``-key.pem``, as a real one does.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc

from services.grpctls import ClientTLS
from services.grpctls import aio_channel as _aio_channel
from services.grpctls import channel as _channel
from services.kafkaconn import KafkaSecurity

GRPC_PREFIX = "PIPEWARDEN_LOADTEST_GRPC_"
CA_ENV = GRPC_PREFIX + "TLS_CA_FILE"
GATEWAY_CERT_DIR_ENV = GRPC_PREFIX + "TLS_GATEWAY_CERT_DIR"


def use_deployment(deployment: Any) -> None:
    """Speak TLS to the deployment's servers and SASL_SSL to its broker when its file says ``tls: true``."""
    if not deployment.tls:
        return
    os.environ[CA_ENV] = str(deployment.tls_ca_file)
    os.environ[GATEWAY_CERT_DIR_ENV] = str(deployment.tls_gateway_cert_dir)
    os.environ.update(deployment.kafka_client_env())


def use_ca(ca_file: str) -> None:
    os.environ[CA_ENV] = ca_file


def gateway_cert_files(gateway: str) -> tuple[str, str] | None:
    """The gateway's own client certificate and key, when the target asks gateways for one (mutual TLS)."""
    folder = os.environ.get(GATEWAY_CERT_DIR_ENV, "").strip()
    cert, key = Path(folder) / f"{gateway}.pem", Path(folder) / f"{gateway}-key.pem"
    # None without one (a deployment made before gateways had certificates, whose telemetry asks for none).
    return (str(cert), str(key)) if folder and cert.is_file() and key.is_file() else None


def grpc_tls(gateway: str | None = None) -> ClientTLS | None:
    """TLS to the target (None: plaintext); with ``gateway``, as that gateway (its client certificate)."""
    tls = ClientTLS.from_env(GRPC_PREFIX)
    files = gateway_cert_files(gateway) if gateway is not None and tls is not None else None
    return ClientTLS(tls.ca_file, *files) if tls is not None and files is not None else tls


def channel(target: str, options: Sequence[tuple[str, Any]] | None = None, gateway: str | None = None) -> grpc.Channel:
    return _channel(target, grpc_tls(gateway), options)


def aio_channel(target: str, options: Sequence[tuple[str, Any]] | None = None,
                gateway: str | None = None) -> grpc.aio.Channel:
    return _aio_channel(target, grpc_tls(gateway), options)


def kafka_kwargs() -> dict[str, Any]:
    """kafka-python keyword arguments for the target's broker (empty for PLAINTEXT)."""
    return KafkaSecurity.from_env().kafka_python_kwargs()
