"""Rotating a SCRAM password on the broker: the new credential is written on the broker first, checked, and only
then does the password file change (a crash in between leaves the new password in ``<file>.new``, which the next
rotation finishes with).

``rotate_password_file(bootstrap, security)`` connects with the current settings (``security``, whose password
file holds the current password), upserts the user's credential with a new random password, checks that the new
password authenticates and the old one no longer does, and replaces the password file (0600, atomically).
Connections already open stay authenticated (SCRAM is checked when a connection opens): clients keep working
until they reconnect, and must be restarted (or rebuilt) to read the new file.
"""

from __future__ import annotations

import os
import secrets
import time
from dataclasses import replace

from services.kafkaconn.settings import ENV_PREFIX, KafkaSecurity, KafkaSecurityError
from services.secretfiles import write_private_file

ITERATIONS = 8192  # PBKDF2 rounds of the stored credential (Kafka accepts 4096..16384)


def authenticates(bootstrap: str, security: KafkaSecurity, timeout_s: float = 10.0) -> bool:
    """True when a new connection with these settings is let in (it lists the topics)."""
    from kafka.admin import KafkaAdminClient
    from kafka.errors import KafkaConfigurationError, KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000),
                                 bootstrap_timeout_ms=int(timeout_s * 1000), **security.kafka_python_kwargs())
    except KafkaConfigurationError:
        raise  # a mistake of ours, not a refusal
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.list_topics()
        return True
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


def set_password(bootstrap: str, security: KafkaSecurity, username: str, password: str) -> None:
    """Upsert ``username``'s credential for ``security``'s mechanism on the broker, connected with ``security``."""
    from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=30_000, **security.kafka_python_kwargs())
    try:
        errors = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(username, security.sasl_mechanism, password, iterations=ITERATIONS)])
    finally:
        admin.close()
    failed = {user: error for user, error in (errors or {}).items() if error}
    if failed:
        raise KafkaSecurityError(f"the broker refused the new SCRAM credential of {username!r}: {failed}")


def rotate_password_file(bootstrap: str, security: KafkaSecurity, settle_s: float = 20.0) -> None:
    """Give ``security``'s user a new random password on the broker and in its password file (see the module)."""
    if security.protocol != "SASL_SSL" or security.sasl_password_file is None or not security.sasl_username:
        raise KafkaSecurityError(f"rotation needs {ENV_PREFIX}SECURITY_PROTOCOL=SASL_SSL with a user and a password "
                                 "file")
    path = security.sasl_password_file
    pending = path.with_name(path.name + ".new")
    if pending.exists():
        # An earlier rotation stopped after the broker took its password: finish that one first.
        finished = replace(security, sasl_password_file=pending)
        if authenticates(bootstrap, finished):
            os.replace(pending, path)
        else:
            pending.unlink()
    if not authenticates(bootstrap, security):
        raise KafkaSecurityError(f"the broker at {bootstrap} refuses the current password in {path}: nothing changed")
    old = replace(security, _password=security.password())
    # Kept apart until the broker has it: the password file always holds a password the broker takes.
    write_private_file(pending, secrets.token_hex(24) + "\n")
    new = replace(security, sasl_password_file=pending)
    try:
        set_password(bootstrap, security, security.sasl_username, new.password())
    except Exception:
        pending.unlink(missing_ok=True)
        raise
    # The credential reaches the broker's authenticator through its metadata log: a moment, not at once.
    deadline = time.monotonic() + settle_s
    while not (authenticates(bootstrap, new) and not authenticates(bootstrap, old, timeout_s=5.0)):
        if time.monotonic() > deadline:
            raise KafkaSecurityError(f"the broker did not switch to the new credential within {settle_s:g} s; the "
                                     f"new password is kept in {pending}")
        time.sleep(0.5)
    os.replace(pending, path)
    os.chmod(path, 0o600)
    if authenticates(bootstrap, security, timeout_s=5.0):  # `security` reads the file again: the new password
        return
    raise KafkaSecurityError(f"{path} was replaced, but the broker refuses the password it holds")
