"""The business profile in the store: one JSON document (``profile`` table, one row).

Every change is validated (``core.profile``) and audited (``profile_updated``, with the fields
that changed) in the transaction that makes it; an invalid document is refused and the stored
one stays.
"""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from solodesk.core.actions import utcnow
from solodesk.core.profile import (
    FIELDS,
    BusinessProfile,
    ProfileError,
    validate_profile,
)
from solodesk.store.repos import AuditLog


class ProfileRepo:
    """The business profile.

    Args:
        db: The database. ``audit``: where changes are recorded.
    """

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    def get(self) -> BusinessProfile:
        """The stored profile (empty when none was saved).

        A stored document that no longer validates (written by a newer version, or by hand)
        is read field by field: what still validates is kept, the rest is left empty.
        """
        row = self.db.execute("SELECT document FROM profile WHERE id = 1").fetchone()
        if row is None:
            return BusinessProfile()
        try:
            data = json.loads(row[0])
        except json.JSONDecodeError:
            return BusinessProfile()
        try:
            return validate_profile(data)
        except ProfileError:
            kept: dict[str, Any] = {}
            for name in FIELDS:
                if isinstance(data, dict) and name in data:
                    try:
                        validate_profile({name: data[name]})
                    except ProfileError:
                        continue
                    kept[name] = data[name]
            return validate_profile(kept)

    def updated_at(self) -> str | None:
        """When it was last saved (UTC ISO 8601), or None."""
        row = self.db.execute("SELECT updated_at FROM profile WHERE id = 1").fetchone()
        return str(row[0]) if row else None

    def save(self, profile: BusinessProfile | dict[str, Any], *, actor: str = "founder"
             ) -> BusinessProfile:
        """Validate and store ``profile`` (replacing the stored one); audited.

        Returns:
            The stored profile.

        Raises:
            ProfileError: it is not valid (nothing is changed); each error names the field.
        """
        new = validate_profile(
            profile.to_json() if isinstance(profile, BusinessProfile) else profile
        )
        with self.db.atomic():
            old = self.get()
            changed = [f for f in FIELDS if getattr(old, f) != getattr(new, f)]
            if not changed and self.updated_at() is not None:
                return new
            document = json.dumps(new.to_json(), ensure_ascii=False, sort_keys=True)
            self.db.execute(
                "INSERT INTO profile (id, document, updated_at) VALUES (1, ?, ?)"
                " ON CONFLICT(id) DO UPDATE SET document = excluded.document,"
                " updated_at = excluded.updated_at",
                [document, utcnow()],
            )
            self.audit.append(
                "profile_updated", action_id=None, actor=actor, detail={"fields": changed}
            )
        return new
