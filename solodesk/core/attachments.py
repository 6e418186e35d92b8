"""Attachments a mail payload names by sha256 (the bytes live in the ``blobs`` table).

A payload never carries the bytes themselves: it carries :class:`AttachmentRef` entries, so the
payload's sha256 (what the founder approves) covers the attachment's sha256, and the executor
refuses to send bytes that do not hash to it. ``send_email`` gains a field
``attachments: [AttachmentRef, ...]`` when it moves onto the registry of action kinds (issue 8).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Total attachment size per mail (bytes). Base64 adds a third, and many servers refuse mail
#: over 25 MB.
MAX_TOTAL_BYTES = 18_000_000
_FORBIDDEN_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


class AttachmentRef(BaseModel):
    """One attachment of a mail payload.

    Attributes:
        sha256: Hex sha256 of the bytes (64 lower-case hex digits); the ``blobs`` key.
        filename: The name the recipient sees, e.g. ``Invoice 2026-0001.pdf``: no path, no
            control characters.
        media_type: MIME type, e.g. ``application/pdf``.
        size: Size in bytes (shown to the founder before approval).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    filename: str = Field(min_length=1, max_length=200)
    media_type: str = Field(pattern=r"^[A-Za-z0-9][\w.+-]*/[A-Za-z0-9][\w.+-]*$")
    size: int = Field(ge=0)

    @field_validator("filename")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if _FORBIDDEN_IN_NAMES.search(value) or value.strip() in ("", ".", ".."):
            raise ValueError(
                f"{value!r} is not a plain file name (no path, control characters or "
                r'any of \ / : * ? " < > |)'
            )
        return value


def attachment_errors(refs: Sequence[AttachmentRef]) -> list[str]:
    """Problems with a mail's attachments as a whole (duplicate names, total size).

    Returns:
        One-line errors naming the attachment (``attachments[2]``); empty when fine.
    """
    errors: list[str] = []
    seen: dict[str, int] = {}
    for i, ref in enumerate(refs, start=1):
        key = ref.filename.casefold()
        if key in seen:
            errors.append(
                f"attachments[{i}]: {ref.filename!r} has the same name as attachments"
                f"[{seen[key]}]"
            )
        seen.setdefault(key, i)
    total = sum(r.size for r in refs)
    if total > MAX_TOTAL_BYTES:
        errors.append(
            f"attachments: {total:,} bytes in total; mail servers refuse more than about "
            f"{MAX_TOTAL_BYTES:,}"
        )
    return errors
