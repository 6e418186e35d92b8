"""The books' repositories (issue 10), built for :class:`~solodesk.store.repos.Store`."""

from __future__ import annotations

from solodesk.store.bank import BankRepo
from solodesk.store.db import StoreDatabase
from solodesk.store.ledger import LedgerRepo
from solodesk.store.repos import AuditLog


def books_repos(db: StoreDatabase, audit: AuditLog) -> tuple[BankRepo, LedgerRepo]:
    """Bank lines and the ledger over ``db``, auditing into ``audit``."""
    return BankRepo(db, audit), LedgerRepo(db, audit)
