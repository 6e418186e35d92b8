"""The inbox layer: where proposals enter (``intake``), are judged (``gates``: risk and policy)
and are decided (``decisions``: approve, edit, reject, cancel, resolve).

Every agent proposes through :class:`~solodesk.inbox.intake.Intake`; the GUI and the command line
decide through :class:`~solodesk.inbox.decisions.Decisions` only. Imports ``core``, ``store`` and
``actions``; ``agents``, ``ui`` and the front ends import it.
"""
