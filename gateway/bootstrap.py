"""First-start chores: the schema (embedded mode) and the first admin account."""

from __future__ import annotations

import logging
import secrets
import sys

from gateway.auth.passwords import hash_password
from shared.config import Settings
from shared.store import Role, UserRepository
from shared.store.migrate import current_revision, head_revision, upgrade

log = logging.getLogger(__name__)

FIRST_ADMIN = "admin"


class SchemaOutOfDateError(RuntimeError):
    pass


def ensure_database_schema(settings: Settings) -> None:
    """Embedded mode migrates itself; production refuses to run on an old schema."""
    if settings.mode == "embedded":
        upgrade(settings.database_url)
        return
    current, head = current_revision(settings.database_url), head_revision()
    if current != head:
        raise SchemaOutOfDateError(
            f"database schema is at {current or 'nothing'}, the code needs {head}: "
            "run `uv run just migrate` (quant db upgrade) first"
        )


async def ensure_first_admin(settings: Settings, users: UserRepository) -> str | None:
    """Create ``admin`` with a random password on the first embedded start; print it once."""
    if settings.mode != "embedded" or not settings.bootstrap_admin or await users.count() > 0:
        return None
    password = secrets.token_urlsafe(12)
    await users.create(FIRST_ADMIN, hash_password(password), Role.ADMIN)
    # Printed, not logged: it must reach the person starting the server exactly once and not
    # sit in log files.
    sys.stdout.write(
        "\n"
        "  ============================================================\n"
        f"  First start: created user `{FIRST_ADMIN}` with password: {password}\n"
        "  It is shown only this once. Change it, or create users with\n"
        "  `uv run quant user create NAME --role trader`.\n"
        "  ============================================================\n\n"
    )
    sys.stdout.flush()
    log.warning("created the first admin user %r (password printed on stdout)", FIRST_ADMIN)
    return password
