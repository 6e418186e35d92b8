"""The ledger in SQLite: accounts, sealed transactions and postings, categorisation rules.

The database itself refuses an unbalanced transaction (see migration ``m005_books_ledger``):
:meth:`LedgerRepo.record` inserts the transaction unsealed, inserts its postings, then seals it,
and the seal trigger checks that the postings sum to zero per currency. Everything a booking
writes (transaction, postings, categorisation record, audit entry) is one SQL transaction.
"""

from __future__ import annotations

import builtins
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from solodesk.core.actions import utcnow
from solodesk.core.categorise import (
    CategoryRule,
    PastChoice,
    RuleField,
    RuleOffer,
    check_rule,
    payee_key,
)
from solodesk.core.ledger import (
    DEFAULT_BANK_ACCOUNT,
    AccountBalance,
    BookedTransaction,
    LedgerError,
    Posting,
    Transaction,
    account_type,
    check_transaction,
)
from solodesk.store.db import StoreDatabase
from solodesk.store.repos import AuditLog, NotFound

Row = dict[str, Any]


def _id_chunks(ids: list[int], size: int = 500) -> Iterator[tuple[list[int], str]]:
    """``ids`` in chunks of at most ``size`` (below SQLite's bound-parameter limit), each with
    its ``?,?,...`` placeholders for an ``IN (...)`` list."""
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        yield part, ",".join("?" * len(part))

class AlreadyBooked(LedgerError):
    """The bank line is already booked by another transaction (a line is booked once)."""

    def __init__(self, message: str, *, transaction_id: int) -> None:
        super().__init__(message)
        self.transaction_id = transaction_id


@dataclass(frozen=True, slots=True)
class LedgerAccount:
    """An account of the chart: ``Expenses:Software`` and what it is for."""

    id: int
    name: str
    type: str
    description: str


@dataclass(frozen=True, slots=True)
class CategoryChoice:
    """How a booked bank line was categorised, for history and rule offers.

    Attributes:
        account: The account the line was booked on (the non-bank side).
        decided_by: ``"rule #3"``, ``"history"``, ``"model"`` or ``"founder"``.
        edited: Whether the founder changed the proposal before approving it.
    """

    account: str
    decided_by: str
    edited: bool


@dataclass(frozen=True, slots=True)
class RegisterRow:
    """One posting of the register, with its transaction's date, payee and narration.

    Attributes:
        posting_id: The posting's row id.
        transaction_id: Its transaction.
        date: Booking date.
        payee: Counterparty.
        narration: What it was for.
        account: The posting's account.
        amount: Minor units of ``currency`` (positive: debit).
        currency: ISO 4217 code.
        bank_line_id: The bank line the transaction books, if any.
    """

    posting_id: int
    transaction_id: int
    date: date
    payee: str
    narration: str
    account: str
    amount: int
    currency: str
    bank_line_id: int | None


@dataclass(frozen=True, slots=True)
class MonthTotal:
    """Income and expenses of one month in one currency, both positive when normal.

    Attributes:
        month: ``YYYY-MM``.
        currency: ISO 4217 code.
        income: Minor units earned (income postings negated).
        expenses: Minor units spent.
    """

    month: str
    currency: str
    income: int
    expenses: int


class LedgerRepo:
    """Accounts, transactions, postings, categorisation rules and history."""

    def __init__(self, db: StoreDatabase, audit: AuditLog) -> None:
        self.db = db
        self.audit = audit

    # -- accounts ------------------------------------------------------------------------------
    def accounts(self) -> list[LedgerAccount]:
        """The chart of accounts, by name."""
        return [
            LedgerAccount(int(r["id"]), r["name"], r["type"], r["description"])
            for r in self.db.query("SELECT * FROM ledger_accounts ORDER BY name")
        ]

    def account(self, name: str) -> LedgerAccount:
        """The account ``name``.

        Raises:
            NotFound: no such account (the message suggests ``books accounts add``).
        """
        rows = list(self.db.query("SELECT * FROM ledger_accounts WHERE name = ?", [name]))
        if not rows:
            raise NotFound(
                f"no account {name!r} in the chart; see 'solodesk books accounts list' or add it "
                "with 'solodesk books accounts add'"
            )
        r = rows[0]
        return LedgerAccount(int(r["id"]), r["name"], r["type"], r["description"])

    def add_account(
        self, name: str, *, description: str = "", actor: str = "founder"
    ) -> LedgerAccount:
        """Add ``name`` to the chart.

        Raises:
            LedgerError: invalid name, or it exists already.
        """
        kind = account_type(name)
        with self.db.write():
            try:
                self.db.execute(
                    "INSERT INTO ledger_accounts (name, type, description, created_at)"
                    " VALUES (?, ?, ?, ?)",
                    [name, kind.value, description, utcnow()],
                )
            except sqlite3.IntegrityError:
                raise LedgerError(f"account {name!r} exists already") from None
            self.audit.append(
                "ledger_account_added",
                action_id=None,
                actor=actor,
                detail={"name": name, "description": description},
            )
        return self.account(name)

    def rename_account(self, old: str, new: str, *, actor: str = "founder") -> LedgerAccount:
        """Rename an account (its postings follow); the root type cannot change once used.

        Raises:
            NotFound: ``old`` does not exist.
            LedgerError: ``new`` is invalid or taken, or the type would change under postings.
        """
        kind = account_type(new)
        with self.db.write():
            acc = self.account(old)
            try:
                self.db.execute(
                    "UPDATE ledger_accounts SET name = ?, type = ? WHERE id = ?",
                    [new, kind.value, acc.id],
                )
            except sqlite3.IntegrityError as exc:
                if "UNIQUE" in str(exc):
                    raise LedgerError(f"account {new!r} exists already") from None
                raise LedgerError(str(exc)) from None
            self.audit.append(
                "ledger_account_renamed",
                action_id=None,
                actor=actor,
                detail={"from": old, "to": new},
            )
        return self.account(new)

    def link_bank_account(self, bank_account: str, ledger_account: str) -> None:
        """Book lines of ``bank_account`` (IBAN or id) on ``ledger_account`` from now on.

        Raises:
            NotFound: no such ledger account.
            LedgerError: the ledger account is not an asset or liability account.
        """
        acc = self.account(ledger_account)
        if acc.type not in ("Assets", "Liabilities"):
            raise LedgerError(f"a bank account books on Assets or Liabilities, not {acc.name}")
        with self.db.write():
            self.db.execute(
                "INSERT INTO ledger_bank_accounts (bank_account, account_id) VALUES (?, ?)"
                " ON CONFLICT (bank_account) DO UPDATE SET account_id = excluded.account_id",
                [bank_account, acc.id],
            )
            self.audit.append(
                "ledger_bank_account_linked",
                action_id=None,
                actor="founder",
                detail={"bank_account": bank_account, "account": acc.name},
            )

    def bank_account_for(self, bank_account: str) -> str:
        """The ledger account lines of ``bank_account`` are booked on (``Assets:Bank`` unless
        linked otherwise)."""
        row = self.db.execute(
            "SELECT a.name FROM ledger_bank_accounts b JOIN ledger_accounts a"
            " ON a.id = b.account_id WHERE b.bank_account = ?",
            [bank_account],
        ).fetchone()
        return str(row[0]) if row else DEFAULT_BANK_ACCOUNT

    def bank_links(self) -> dict[str, str]:
        """Every linked bank account -> ledger account."""
        return {
            r["bank_account"]: r["name"]
            for r in self.db.query(
                "SELECT b.bank_account, a.name FROM ledger_bank_accounts b"
                " JOIN ledger_accounts a ON a.id = b.account_id ORDER BY b.bank_account"
            )
        }

    # -- transactions --------------------------------------------------------------------------
    def record(
        self,
        transaction: Transaction,
        postings: Sequence[Posting],
        *,
        source_line_id: int | None,
        action_id: int | None,
        category: CategoryChoice | None = None,
        actor: str = "founder",
    ) -> BookedTransaction:
        """Book an approved transaction into the ledger, exactly once.

        Idempotent per approval: calling it again with the same ``action_id`` (an outbox retry
        after a crash) returns the transaction already booked, unchanged. A bank line is booked
        at most once: booking it under another approval raises :class:`AlreadyBooked`.

        Args:
            transaction: Date, payee and narration.
            postings: At least two, summing to zero per currency; for a bank line, one of them
                must carry the line's exact amount and currency.
            source_line_id: The bank line this books, if any.
            action_id: The approved proposal this executes, if any.
            category: For a bank line: the account chosen and who decided it (history and
                rule offers read these).
            actor: Who booked it (audit trail).

        Returns:
            The sealed transaction.

        Raises:
            UnbalancedTransaction: the postings do not balance per currency.
            LedgerError: too few postings, invalid accounts or currencies, a posting to an
                account not in the chart, or postings that do not carry the bank line's amount.
            AlreadyBooked: the bank line is booked by another transaction.
            NotFound: ``source_line_id`` is not a stored bank line.
        """
        check_transaction(transaction, postings)
        with self.db.write():
            if action_id is not None:
                row = self.db.execute(
                    "SELECT id FROM ledger_transactions WHERE action_id = ? AND sealed = 1",
                    [action_id],
                ).fetchone()
                if row is not None:
                    return self.get(int(row[0]))
            line: Row | None = None
            if source_line_id is not None:
                line = self._line_row(source_line_id)
                booked = self.db.execute(
                    "SELECT id FROM ledger_transactions WHERE bank_line_id = ?", [source_line_id]
                ).fetchone()
                if booked is not None:
                    raise AlreadyBooked(
                        f"bank line {source_line_id} is already booked by transaction "
                        f"#{booked[0]}",
                        transaction_id=int(booked[0]),
                    )
                if not any(
                    p.amount == line["amount"] and p.currency == line["currency"]
                    for p in postings
                ):
                    raise LedgerError(
                        f"no posting carries bank line {source_line_id}'s amount "
                        f"({line['amount']} minor units {line['currency']})"
                    )
            account_ids = {p.account: self.account_id(p.account) for p in postings}
            cur = self.db.execute(
                "INSERT INTO ledger_transactions (date, payee, narration, bank_line_id,"
                " action_id, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    transaction.date.isoformat(),
                    transaction.payee,
                    transaction.narration,
                    source_line_id,
                    action_id,
                    utcnow(),
                ],
            )
            txn_id = int(cast(int, cur.lastrowid))
            self.db.conn.executemany(
                "INSERT INTO ledger_postings (transaction_id, account_id, amount, currency)"
                " VALUES (?, ?, ?, ?)",
                [(txn_id, account_ids[p.account], p.amount, p.currency) for p in postings],
            )
            self.db.execute("UPDATE ledger_transactions SET sealed = 1 WHERE id = ?", [txn_id])
            if category is not None and line is not None:
                self.db.execute(
                    "INSERT INTO ledger_categorisations (transaction_id, bank_line_id,"
                    " payee_key, account_id, decided_by, edited, created_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        txn_id,
                        source_line_id,
                        line["payee_key"],
                        self.account_id(category.account),
                        category.decided_by,
                        int(category.edited),
                        utcnow(),
                    ],
                )
            self.audit.append(
                "ledger_transaction_recorded",
                action_id=action_id,
                actor=actor,
                detail={
                    "transaction_id": txn_id,
                    "date": transaction.date.isoformat(),
                    "payee": transaction.payee,
                    "bank_line_id": source_line_id,
                    "postings": [[p.account, p.amount, p.currency] for p in postings],
                    "category": (
                        {"account": category.account, "decided_by": category.decided_by,
                         "edited": category.edited}
                        if category else None
                    ),
                },
            )
        return self.get(txn_id)

    def _line_row(self, line_id: int) -> Row:
        rows = list(self.db.query("SELECT * FROM bank_lines WHERE id = ?", [line_id]))
        if not rows:
            raise NotFound(f"no bank line with id {line_id}")
        return rows[0]

    def account_id(self, name: str) -> int:
        """The id of account ``name``.

        Raises:
            LedgerError: the account is not in the chart.
        """
        row = self.db.execute("SELECT id FROM ledger_accounts WHERE name = ?", [name]).fetchone()
        if row is None:
            raise LedgerError(
                f"account {name!r} is not in the chart; add it with "
                f"'solodesk books accounts add {name}'"
            )
        return int(row[0])

    def get(self, txn_id: int) -> BookedTransaction:
        """The sealed transaction ``txn_id``.

        Raises:
            NotFound: no sealed transaction with that id.
        """
        found = self._load("t.id = ?", [txn_id])
        if not found:
            raise NotFound(f"no ledger transaction #{txn_id}")
        return found[0]

    def transactions(
        self, *, start: date | None = None, end: date | None = None
    ) -> list[BookedTransaction]:
        """Sealed transactions by date then id; ``start`` included, ``end`` excluded."""
        where, params = ["1 = 1"], []
        if start is not None:
            where.append("t.date >= ?")
            params.append(start.isoformat())
        if end is not None:
            where.append("t.date < ?")
            params.append(end.isoformat())
        return self._load(" AND ".join(where), params)

    def _load(self, where: str, params: Sequence[Any]) -> list[BookedTransaction]:
        txns = list(
            self.db.query(
                f"SELECT * FROM ledger_transactions t WHERE t.sealed = 1 AND {where}"
                " ORDER BY t.date, t.id",
                list(params),
            )
        )
        if not txns:
            return []
        postings: dict[int, list[Posting]] = {int(t["id"]): [] for t in txns}
        for part, marks in _id_chunks(list(postings)):
            for r in self.db.query(
                "SELECT p.transaction_id, a.name, p.amount, p.currency FROM ledger_postings p"
                f" JOIN ledger_accounts a ON a.id = p.account_id WHERE p.transaction_id IN"
                f" ({marks}) ORDER BY p.id",
                part,
            ):
                postings[int(r["transaction_id"])].append(
                    Posting(r["name"], int(r["amount"]), r["currency"])
                )
        return [
            BookedTransaction(
                id=int(t["id"]),
                date=date.fromisoformat(t["date"]),
                payee=t["payee"],
                narration=t["narration"],
                postings=tuple(postings[int(t["id"])]),
                bank_line_id=t["bank_line_id"],
                action_id=t["action_id"],
                created_at=t["created_at"],
            )
            for t in txns
        ]

    def balances(
        self, *, start: date | None = None, end: date | None = None
    ) -> list[AccountBalance]:
        """Sum of sealed postings per (account, currency) with ``start <= date < end``."""
        where, params = ["1 = 1"], []
        if start is not None:
            where.append("date >= ?")
            params.append(start.isoformat())
        if end is not None:
            where.append("date < ?")
            params.append(end.isoformat())
        return [
            AccountBalance(r["account"], r["currency"], int(r["total"]))
            for r in self.db.query(
                "SELECT account, currency, sum(amount) AS total FROM ledger_entries"
                f" WHERE {' AND '.join(where)} GROUP BY account, currency"
                " ORDER BY account, currency",
                params,
            )
        ]

    # -- register and monthly totals (the GUI's Books page) ---------------------------------------
    @staticmethod
    def _entry_filter(
        start: date | None, end: date | None, account: str | None
    ) -> tuple[str, list[Any]]:
        where: list[str] = ["1 = 1"]
        params: list[Any] = []
        if start is not None:
            where.append("date >= ?")
            params.append(start.isoformat())
        if end is not None:
            where.append("date < ?")
            params.append(end.isoformat())
        if account is not None:
            where.append("(account = ? OR account LIKE ? ESCAPE '\\')")
            escaped = account.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.extend([account, escaped + ":%"])
        return " AND ".join(where), params

    def register_ids(
        self,
        *,
        start: date | None = None,
        end: date | None = None,
        account: str | None = None,
    ) -> list[int]:
        """Ids of the sealed postings in register order (date, transaction, posting).

        Args:
            start: First date included.
            end: First date excluded.
            account: Only postings on this account or its sub-accounts
                (``Expenses`` includes ``Expenses:Software``).

        Returns:
            Posting ids; fetch their rows in pages with :meth:`register_rows` (a register of
            100,000 postings is a list of 100,000 ints, not of rows).
        """
        where, params = self._entry_filter(start, end, account)
        return [
            int(r[0])
            for r in self.db.execute(
                f"SELECT posting_id FROM ledger_entries WHERE {where}"
                " ORDER BY date, transaction_id, posting_id",
                params,
            ).fetchall()
        ]

    def register_rows(self, posting_ids: Sequence[int]) -> list[RegisterRow]:
        """The register rows of ``posting_ids``, in the order given (unknown ids are left out)."""
        found: dict[int, RegisterRow] = {}
        ids = list(posting_ids)
        for part, marks in _id_chunks(ids):
            # The postings first (by primary key), then their transactions and accounts:
            # CROSS JOIN keeps SQLite from scanning every sealed transaction for a long IN list.
            for r in self.db.query(
                "SELECT p.id AS posting_id, t.id AS transaction_id, t.date, t.payee,"
                " t.narration, a.name AS account, p.amount, p.currency, t.bank_line_id"
                " FROM ledger_postings p"
                " CROSS JOIN ledger_transactions t ON t.id = p.transaction_id"
                " CROSS JOIN ledger_accounts a ON a.id = p.account_id"
                f" WHERE t.sealed = 1 AND p.id IN ({marks})",
                part,
            ):
                found[int(r["posting_id"])] = RegisterRow(
                    int(r["posting_id"]), int(r["transaction_id"]),
                    date.fromisoformat(r["date"]), r["payee"], r["narration"], r["account"],
                    int(r["amount"]), r["currency"], r["bank_line_id"],
                )
        return [found[i] for i in ids if i in found]

    def monthly_totals(
        self, *, start: date | None = None, end: date | None = None
    ) -> list[MonthTotal]:
        """Income and expenses per month and currency, ``start <= date < end``, by month.

        Income is shown positive (income postings are credits, i.e. negative).
        """
        where, params = self._entry_filter(start, end, None)
        return [
            MonthTotal(r["month"], r["currency"], int(r["income"]), int(r["expenses"]))
            for r in self.db.query(
                "SELECT substr(date, 1, 7) AS month, currency,"
                " -coalesce(sum(CASE WHEN account_type = 'Income' THEN amount END), 0)"
                " AS income,"
                " coalesce(sum(CASE WHEN account_type = 'Expenses' THEN amount END), 0)"
                " AS expenses"
                f" FROM ledger_entries WHERE {where}"
                " AND account_type IN ('Income', 'Expenses')"
                " GROUP BY month, currency ORDER BY month, currency",
                params,
            )
        ]

    # -- proposals -----------------------------------------------------------------------------
    def keys_taken(self, keys: Sequence[str]) -> dict[str, tuple[int, str]]:
        """Which of ``keys`` an action already holds as its idempotency key (a bank line whose
        ``record_transaction`` was proposed, whatever became of the proposal): key -> (action
        id, status)."""
        found: dict[str, tuple[int, str]] = {}
        unique = sorted(set(keys))
        for start in range(0, len(unique), 500):
            part = unique[start : start + 500]
            marks = ",".join("?" * len(part))
            for r in self.db.execute(
                "SELECT idempotency_key, id, status FROM actions"
                f" WHERE idempotency_key IN ({marks})",
                part,
            ).fetchall():
                found[str(r[0])] = (int(r[1]), str(r[2]))
        return found

    def line_proposals(self, line_id: int) -> list[tuple[int, str, int]]:
        """Every ``record_transaction`` proposal of bank line ``line_id`` (the first and the
        founder's revisions): ``(action id, status, revision)``, oldest first."""
        base = f"record_transaction:bank_line:{line_id}"
        out: list[tuple[int, str, int]] = []
        for r in self.db.execute(
            "SELECT id, status, idempotency_key FROM actions"
            " WHERE idempotency_key = ? OR (idempotency_key > ? AND idempotency_key < ?)"
            " ORDER BY id",
            [base, base + ":", base + ";"],
        ).fetchall():
            tail = str(r[2])[len(base) + 1:]
            out.append((int(r[0]), str(r[1]), int(tail) if tail.isdigit() else 0))
        return out

    # -- categorisation ------------------------------------------------------------------------
    def rules(self) -> list[CategoryRule]:
        """The founder's categorisation rules in evaluation order."""
        return [
            CategoryRule(
                id=int(r["id"]),
                pattern=r["pattern"],
                account=r["account"],
                field=RuleField(r["field"]),
                regex=bool(r["is_regex"]),
                note=r["note"],
            )
            for r in self.db.query(
                "SELECT r.*, a.name AS account FROM ledger_rules r"
                " JOIN ledger_accounts a ON a.id = r.account_id ORDER BY r.position, r.id"
            )
        ]

    def add_rule(
        self,
        pattern: str,
        account: str,
        *,
        field: RuleField = RuleField.ANY,
        regex: bool = False,
        note: str = "",
        position: int | None = None,
        actor: str = "founder",
    ) -> CategoryRule:
        """Add a rule (evaluated last unless ``position`` is given; lower runs first).

        Raises:
            LedgerError: empty pattern, invalid regular expression, account not in the chart.
        """
        check_rule(pattern, account, regex=regex)
        with self.db.write():
            account_id = self.account_id(account)
            if position is None:
                row = self.db.execute("SELECT max(position) FROM ledger_rules").fetchone()
                position = (int(row[0]) + 10) if row and row[0] is not None else 10
            cur = self.db.execute(
                "INSERT INTO ledger_rules (position, field, pattern, is_regex, account_id, note,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [position, field.value, pattern, int(regex), account_id, note, utcnow()],
            )
            rule_id = int(cast(int, cur.lastrowid))
            rule = next(r for r in self.rules() if r.id == rule_id)
            self.audit.append(
                "ledger_rule_added", action_id=None, actor=actor, detail=_rule_json(rule)
            )
        return rule

    def remove_rule(self, rule_id: int, *, actor: str = "founder") -> CategoryRule:
        """Remove rule ``rule_id``.

        Raises:
            NotFound: no such rule.
        """
        with self.db.write():
            rule = next((r for r in self.rules() if r.id == rule_id), None)
            if rule is None:
                raise NotFound(f"no categorisation rule #{rule_id}")
            self.db.execute("DELETE FROM ledger_rules WHERE id = ?", [rule_id])
            self.audit.append(
                "ledger_rule_removed", action_id=None, actor=actor, detail=_rule_json(rule)
            )
        return rule

    def history(self, key: str) -> list[PastChoice]:
        """The founder's approved categorisations of lines with payee key ``key``.

        Args:
            key: A :func:`~solodesk.core.categorise.payee_key`.
        """
        if not key:
            return []
        return [
            PastChoice(r["account"], int(r["n"]), date.fromisoformat(r["last"]))
            for r in self.db.query(
                "SELECT a.name AS account, count(*) AS n, max(t.date) AS last"
                " FROM ledger_categorisations c"
                " JOIN ledger_accounts a ON a.id = c.account_id"
                " JOIN ledger_transactions t ON t.id = c.transaction_id AND t.sealed = 1"
                " WHERE c.payee_key = ? GROUP BY a.name ORDER BY n DESC, last DESC",
                [key],
            )
        ]

    def history_for(self, payee: str, description: str = "") -> builtins.list[PastChoice]:
        """:meth:`history` for a line with this payee and description."""
        return self.history(payee_key(payee, description))

    def rule_offers(self, min_unedited: int) -> list[RuleOffer]:
        """Categorisations the founder approved unedited at least ``min_unedited`` times.

        Approvals decided by a rule do not count (a rule exists), and a payee already matched by
        one of the founder's rules is left out. The founder decides whether to make a rule;
        nothing is created here.
        """
        rules = self.rules()
        offers = []
        for r in self.db.query(
            "WITH counted AS ("
            " SELECT c.payee_key, c.account_id, max(c.bank_line_id) AS last_line,"
            " sum(CASE WHEN c.edited = 0 THEN 1 ELSE 0 END) AS unedited"
            " FROM ledger_categorisations c"
            " WHERE c.decided_by NOT LIKE 'rule%' AND c.payee_key <> ''"
            " GROUP BY c.payee_key, c.account_id)"
            " SELECT k.payee_key, k.unedited, a.name AS account,"
            " (SELECT l.payee FROM bank_lines l WHERE l.id = k.last_line) AS example,"
            " (SELECT count(*) FROM ledger_categorisations o WHERE o.payee_key = k.payee_key"
            "   AND (o.account_id <> k.account_id OR o.edited = 1)) AS elsewhere"
            " FROM counted k JOIN ledger_accounts a ON a.id = k.account_id"
            " WHERE k.unedited >= ? ORDER BY k.unedited DESC, k.payee_key",
            [min_unedited],
        ):
            example = r["example"] or r["payee_key"]
            if any(rule.matches(example, "") for rule in rules):
                continue
            offers.append(
                RuleOffer(
                    payee_key=r["payee_key"],
                    example_payee=example,
                    account=r["account"],
                    unedited=int(r["unedited"]),
                    edited_elsewhere=int(r["elsewhere"]),
                )
            )
        return offers


def _rule_json(rule: CategoryRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "field": rule.field.value,
        "pattern": rule.pattern,
        "regex": rule.regex,
        "account": rule.account,
        "note": rule.note,
    }
