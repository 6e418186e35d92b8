"""The ``write_document`` executor: the approved text written into the documents folder,
atomically and exactly once (``store.documents.DocumentsFolder.write``).

The folder comes from the ``documents`` transport (a ``() -> Path`` the front end wires from
the ``documents.folder`` setting). The file is written only if it is still the one the proposal
was made against (``expected_previous_sha256``; a new file must still be absent): otherwise the
outcome is ``failed`` and nothing is written. A file that already holds exactly the approved
text is ``done`` without a write, so running the outbox again writes nothing twice.
"""

from __future__ import annotations

from solodesk.actions.executors import (
    ExecutionContext,
    ExecutionOutcome,
    PreflightContext,
    register_executor,
)
from solodesk.core.actions import Action
from solodesk.core.kinds.document import WRITE_DOCUMENT, WriteDocumentPayload
from solodesk.store.documents import (
    DocumentChanged,
    DocumentError,
    DocumentsFolder,
    resolve_folder,
)

#: The transport name of the documents folder (a ``() -> pathlib.Path``).
DOCUMENTS = "documents"


async def execute_write_document(action: Action, ctx: ExecutionContext) -> ExecutionOutcome:
    """Write the approved document: ``done`` with its sha256 and size; ``failed`` (nothing
    written) when the file changed since the proposal, the path leads out of the folder, or the
    disk refused."""
    try:
        folder = ctx.transport(DOCUMENTS)()
    except LookupError as exc:
        return ExecutionOutcome("failed", str(exc), {"stage": "SETUP"})
    p = WriteDocumentPayload.model_validate(dict(action.payload))
    try:
        result = DocumentsFolder(folder).write(
            p.path, p.content, expected_previous_sha256=p.expected_previous_sha256
        )
    except DocumentChanged as exc:
        return ExecutionOutcome("failed", str(exc), {"stage": "CHANGED"})
    except DocumentError as exc:
        return ExecutionOutcome("failed", f"nothing was written: {exc}", {"stage": "WRITE"})
    detail = (f"wrote {p.path} ({result.size} bytes)" if result.written
              else f"{p.path} already holds the approved text; nothing written again")
    return ExecutionOutcome("done", detail, {
        "status": "written" if result.written else "already written",
        "path": p.path, "sha256": result.sha256, "bytes": str(result.size),
    })


def document_preflight(action: Action, ctx: PreflightContext) -> list[str]:
    """Before an approval: the file must still be the one the proposal was made against (a
    new document's path still free), else approving would only fail; the reason says what to
    do. Nothing is checked when the folder is not known."""
    try:
        folder = DocumentsFolder(resolve_folder(ctx.config.get("documents.folder"),
                                                ctx.data_dir))
    except DocumentError:
        return []  # no folder known here: the executor checks
    try:
        p = WriteDocumentPayload.model_validate(dict(action.payload))
        now = folder.current(p.path)
    except DocumentError as exc:
        return [f"{exc}; reject this proposal"]
    except ValueError:
        return []  # an invalid payload: validation says why
    disk = now[0] if now is not None else None
    if disk == p.expected_previous_sha256 or (now is not None and now[1] == p.content):
        return []
    if p.expected_previous_sha256 is None:
        return [f"{p.path} appeared in your documents folder after this proposal was made; "
                "reject it and ask for a new proposal (it will show the diff)"]
    state = "was removed" if now is None else "changed"
    return [f"{p.path} {state} after this proposal was made, so its diff is out of date; "
            "reject it and ask for a new proposal"]


register_executor(WRITE_DOCUMENT, execute_write_document, preflight=document_preflight)
