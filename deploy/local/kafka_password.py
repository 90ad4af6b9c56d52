"""``python -m deploy.local rotate-kafka-password`` (``make rotate-kafka-password``): a new SCRAM password for the
deployment's Kafka user (``tls: true``), with the broker running.

1. The new credential goes on the broker first, connected with the current password
   (``services.kafkaconn.rotation``); it is checked (the new password is let in, the old one no longer) before
2. the password file ``<data_dir>/tls/kafka-password`` is replaced (0600, atomically; an interrupted rotation
   leaves ``kafka-password.new``, which the next run finishes with);
3. the Kafka clients (telemetry, leakdetect, workorders) are restarted one at a time, each waited for, so they
   connect with the new password. Their open connections stayed authenticated meanwhile (SCRAM is checked when a
   connection opens); a client that reconnected in the seconds between 1 and 3 retried until its restart.

The broker keeps running: its own configuration is rendered from the password file at its next start.
"""

from __future__ import annotations

import sys
import time
import xmlrpc.client

from deploy.local.config import Deployment

KAFKA_CLIENTS = ("telemetry", "leakdetect", "workorders")


def cmd_rotate_kafka_password(deployment: Deployment) -> int:
    from deploy.local.deployment import rpc, supervisord_running
    from services.kafkaconn import KafkaSecurity, KafkaSecurityError
    from services.kafkaconn.rotation import rotate_password_file

    d = deployment
    if not d.tls:
        print(f"error: {d.file} has tls: false: its broker speaks PLAINTEXT and has no password to rotate",
              file=sys.stderr)
        return 2
    if not supervisord_running(d):
        print(f"error: the deployment of {d.file} is not running: the new password must go on its broker "
              "(make up first)", file=sys.stderr)
        return 2
    started = time.monotonic()
    try:
        rotate_password_file(d.kafka_bootstrap, KafkaSecurity.from_env(d.kafka_client_env()))
    except KafkaSecurityError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"new SCRAM password of Kafka user {d.KAFKA_USER!r} on the broker and in {d.kafka_password_file} (0600)",
          file=sys.stderr)
    server = rpc(d)
    for program in [p for p in d.programs() if p.kind in KAFKA_CLIENTS]:
        print(f"restarting {program.name} (it reads the new password)", file=sys.stderr)
        try:
            server.supervisor.stopProcess(program.name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString:
                print(f"error: stopping {program.name}: {fault.faultString}", file=sys.stderr)
                return 1
        try:
            server.supervisor.startProcess(program.name, True)
        except xmlrpc.client.Fault as fault:
            print(f"error: starting {program.name}: {fault.faultString} (see make logs SERVICE={program.name})",
                  file=sys.stderr)
            return 1
    print(f"rotated in {time.monotonic() - started:.1f} s; `make status` shows every process's health",
          file=sys.stderr)
    return 0
