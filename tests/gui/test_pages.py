"""The window's pages: the side bar and Ctrl+N, the Books page on a real ledger and bank lines,
the bank import from the File menu (good and bad files), a register of 100,000 postings."""

from __future__ import annotations

import shutil
import sqlite3
import time
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QInputDialog, QMessageBox
from pytestqt.qtbot import QtBot

from solodesk.connectors.bank.importer import import_file
from solodesk.core.bank import CsvMapping
from solodesk.core.events import ActionProposed, ActionResolved
from solodesk.core.ledger import Posting, Transaction
from solodesk.services import Services
from solodesk.store.repos import Store
from solodesk.ui.main_window import MainWindow
from solodesk.ui.pages.books import BooksPage, last_months
from tests.gui.conftest import Drive
from tests.gui.support import propose_send, show_window

pytestmark = pytest.mark.gui

BANK = Path(__file__).resolve().parents[1] / "data" / "bank"
TODAY = date(2026, 5, 20)


def book(store: Store, day: date, payee: str, account: str, amount: int,
         currency: str = "EUR") -> None:
    """Book ``amount`` on ``account`` against the bank (income: a negative amount)."""
    store.ledger.record(
        Transaction(day, payee, "test"),
        [Posting(account, amount, currency), Posting("Assets:Bank", -amount, currency)],
        source_line_id=None, action_id=None,
    )


def fill_books(store: Store) -> None:
    book(store, date(2026, 4, 3), "ACME GmbH", "Income:Sales", -250_000)
    book(store, date(2026, 4, 9), "GitHub, Inc.", "Expenses:Software", 4_400)
    book(store, date(2026, 5, 2), "Beta Ltd", "Income:Sales", -120_000)
    book(store, date(2026, 5, 6), "Hetzner", "Expenses:Software", 3_570)
    book(store, date(2026, 5, 7), "Deutsche Bahn", "Expenses:Travel", 8_990)
    book(store, date(2026, 5, 8), "Tokyo client", "Income:Sales", -50_000, "JPY")


def books_page(qtbot: QtBot, services: Services) -> tuple[MainWindow, BooksPage]:
    win = show_window(qtbot, services)
    win.books.today = lambda: TODAY  # type: ignore[method-assign]
    win.show_page("books")
    assert win.current_page() == "books"
    return win, win.books


# -- navigation ---------------------------------------------------------------------------------
def test_side_bar_keys_badge_and_last_page(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    store = gui_services.store
    propose_send(store, n=1)
    propose_send(store, n=2)
    win = show_window(qtbot, gui_services)
    assert win.page_keys()[:2] == ["inbox", "books"]
    assert win.current_page() == "inbox"  # the default
    assert win.side_bar.badge("inbox") == 2
    assert win.side_bar.text("inbox") == "Inbox  (2)"
    # a new proposal updates the badge (through the bus)
    action = propose_send(store, n=3).id
    gui_services.bus.publish(ActionProposed(action, "send_email", "pending", "third"))
    qtbot.waitUntil(lambda: win.side_bar.badge("inbox") == 3)
    # Ctrl+2 from the inbox list goes to the books, Ctrl+1 back, focus follows
    qtbot.waitUntil(win.inbox.table.hasFocus)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_2, Qt.KeyboardModifier.ControlModifier)
    assert win.current_page() == "books"
    assert win.books.register_view.hasFocus()
    assert win.side_bar.list.currentRow() == 1
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert win.current_page() == "inbox"
    assert win.inbox.table.hasFocus()
    # deciding lowers the badge
    win.services.store.actions.reject(action, reason="no")
    gui_services.bus.publish(ActionResolved(action, "rejected"))
    qtbot.waitUntil(lambda: win.side_bar.badge("inbox") == 2)
    assert win.side_bar.badge("inbox") == 2
    # clicking the side bar switches too; collapsing keeps the names in tooltips
    win.side_bar.list.setFocus()
    qtbot.keyClick(win.side_bar.list, Qt.Key.Key_Down)
    assert win.current_page() == "books"
    assert win.side_bar.list.hasFocus()  # arrow keys keep walking through the pages
    win.side_bar.set_collapsed(True)
    assert win.side_bar.text("books") == ""
    assert win.side_bar.list.item(1).toolTip() == "Books (Ctrl+2)"
    # a registration is one call, and a key cannot be taken twice
    from PySide6.QtWidgets import QLabel

    # (the example page is "scratch": "memory" is the real Memory page now)
    win.add_page("scratch", "Scratch", QLabel("scratch"), "Ctrl+9")
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_9, Qt.KeyboardModifier.ControlModifier)
    assert win.current_page() == "scratch"
    with pytest.raises(ValueError, match="already registered"):
        win.add_page("scratch", "Scratch", QLabel("again"))
    win.show_page("books")
    win.close()
    again = show_window(qtbot, gui_services, active=False)
    assert again.current_page() == "books"  # the last page is remembered
    assert again.side_bar.collapsed


# -- the Books page ----------------------------------------------------------------------------
def test_books_register_reports_chart_and_unbooked(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    store = gui_services.store
    fill_books(store)
    out = import_file(BANK / "camt053_001_02.xml", store.bank)
    assert out.error is None and out.imported > 0
    win, page = books_page(qtbot, gui_services)
    assert page.unbooked_label.text() == f"{out.imported} bank lines wait for the bookkeeper"
    # every month: 6 transactions x 2 postings, in date order, the text on the first posting
    model = page.register_model
    assert model.rowCount() == 12
    assert model.index(0, 0).data() == "2026-04-03"
    assert model.index(0, 2).data() == "ACME GmbH — test"
    assert model.index(0, 4).data() == "-2,500.00 EUR"
    assert model.index(1, 0).data() == "" and model.index(1, 3).data() == "Assets:Bank"
    assert model.index(1, 4).data() == "2,500.00 EUR"
    # filter: May, then May on Expenses (sub-accounts included)
    page.set_filter(month="2026-05")
    assert model.rowCount() == 8
    page.set_filter(month="2026-05", account="Expenses:Software")
    assert [model.index(r, 4).data() for r in range(model.rowCount())] == ["35.70 EUR"]
    page.account_combo.setCurrentIndex(0)
    assert model.rowCount() == 8
    assert page.register_count.text() == "8 postings"
    # the month's P&L per currency, and the balance sheet at the month's end
    pnl, balance = page.report_text()
    assert "Income (EUR)" in pnl and "Income:Sales: 1,200.00 EUR" in pnl
    assert "Total expenses: 125.60 EUR" in pnl
    assert "Net profit: 1,074.40 EUR" in pnl
    assert "Income:Sales: 50,000 JPY" in pnl  # JPY has no minor digits
    assert "Assets:Bank: 3,530.40 EUR" in balance  # 2,500 - 44 + 1,200 - 35.70 - 89.90
    assert page.balance_title.text() == "Balance sheet at 2026-05-31"
    # the chart: 12 months up to May, the same numbers in the table beside it
    assert page.currency_combo.currentText() == "EUR"
    bars = page.chart.bars
    assert [b.month for b in bars] == last_months(date(2026, 5, 1))
    assert (bars[-2].income, bars[-2].expenses) == (250_000, 4_400)
    assert (bars[-1].income, bars[-1].expenses) == (120_000, 12_560)
    table = page.chart_model
    assert table.rowCount() == 12
    assert [table.item(11, c).text() for c in range(4)] == [
        "2026-05", "1,200.00 EUR", "125.60 EUR", "1,074.40 EUR"
    ]
    assert "2026-04: income 2,500.00 EUR" in page.chart.accessibleDescription()
    page.currency_combo.setCurrentText("JPY")
    assert page.chart.bars[-1].income == 50_000
    # keyboard: the tabs and filters are reachable by mnemonic
    page.tabs.setCurrentIndex(2)
    qtbot.wait(50)
    assert not page.chart.grab().isNull()


def test_bank_import_from_the_file_menu(
    qtbot: QtBot, gui_services: Services, drive: Drive[object], tmp_path: Path
) -> None:
    store = gui_services.store
    win, page = books_page(qtbot, gui_services)
    assert page.import_action in win.file_menu.actions()
    assert page.import_action.shortcut().toString() == "Ctrl+Shift+B"
    dialog = page.choose_import()
    assert dialog.isVisible()
    dialog.reject()
    # good files: OFX and camt, one worker-thread import; per-file lines in the status bar
    good = [BANK / "ofxparse" / "checking.ofx", BANK / "camt053_001_08.xml"]
    outcomes = drive(page.import_statements(good))
    assert outcomes is not None and all(o.error is None for o in outcomes)
    total = sum(o.imported for o in outcomes)
    assert total == store.bank.count() > 0
    text = win.message_label.toolTip()
    assert text.startswith(f"Bank import: {total} line(s) imported")
    assert "checking.ofx:" in text and "camt053_001_08.xml:" in text
    assert page.unbooked_label.text().startswith(f"{total} bank lines wait")
    # a malformed file: nothing of it is stored; the dialog names the file and the place
    bad = tmp_path / "broken.xml"
    text08 = (BANK / "camt053_001_08.xml").read_text(encoding="utf-8")
    bad.write_text(text08.replace("<Amt Ccy=", "<Amt Ccy=\"EURO\" x=", 1), encoding="utf-8")
    again = drive(page.import_statements([bad]))
    assert again is not None and again[0].error
    assert store.bank.count() == total  # nothing imported
    box = page.report_dialog
    assert isinstance(box, QMessageBox) and box.isVisible()
    assert "broken.xml" in box.informativeText() and "nothing imported" in box.informativeText()
    assert str(bad) in box.detailedText()
    assert again[0].error in box.detailedText()
    print(f"\nbad file shown as: {again[0].error}")
    assert "b3261e" in win.message_label.styleSheet()
    box.close()


def test_csv_import_asks_which_mapping(
    qtbot: QtBot, gui_services: Services, drive: Drive[object], tmp_path: Path
) -> None:
    store = gui_services.store
    win, page = books_page(qtbot, gui_services)
    csv = tmp_path / "card.csv"
    shutil.copy(BANK / "card_2026-05.csv", csv)
    # no mapping saved: the CSV is left out and the message says how to save one
    assert drive(page.import_statements([csv])) is None
    assert "bank mappings add" in win.message_label.toolTip()
    assert store.bank.count() == 0
    header = csv.read_text(encoding="utf-8").splitlines()[0]
    print(f"\ncard CSV header: {header}")
    store.bank.save_mapping(CsvMapping.model_validate({
        "name": "card", "date": "Date", "debit": "Debit", "credit": "Credit",
        "payee": "Payee", "description": ("Description",), "currency": "EUR",
        "account": "CARD-1",
    }))

    def answer() -> None:
        dialog = QApplication.activeModalWidget()
        assert isinstance(dialog, QInputDialog)
        assert "card.csv" in dialog.labelText()
        dialog.setTextValue("card")
        dialog.accept()

    task = page.tasks.spawn(page.import_statements([csv]), name="import")
    assert task is not None
    qtbot.waitUntil(lambda: isinstance(QApplication.activeModalWidget(), QInputDialog))
    answer()
    qtbot.waitUntil(task.done, timeout=5000)
    outcomes = task.result()
    assert outcomes is not None and outcomes[0].error is None, outcomes
    assert store.bank.count() == outcomes[0].imported > 0


# -- 100,000 postings --------------------------------------------------------------------------
def bulk_ledger(database: Path, transactions: int) -> None:
    """``transactions`` two-posting transactions over two years, in one SQL transaction.

    (LedgerRepo.record writes an audit entry per booking, ~5 ms each: 50,000 would take
    minutes. The rows are the ones record writes; the seal trigger still checks each balance.)
    """
    conn = sqlite3.connect(database)
    try:
        ids = dict(conn.execute("SELECT name, id FROM ledger_accounts").fetchall())
        with conn:
            base = conn.execute("SELECT coalesce(max(id), 0) FROM ledger_transactions").fetchone()
            first = int(base[0]) + 1
            conn.executemany(
                "INSERT INTO ledger_transactions (id, date, payee, narration, created_at)"
                " VALUES (?, ?, ?, ?, '2026-01-01T00:00:00Z')",
                [
                    (first + i, f"{2025 + (i % 24) // 12}-{(i % 12) + 1:02d}-{(i % 28) + 1:02d}",
                     f"Payee {i % 97}", f"line {i}")
                    for i in range(transactions)
                ],
            )
            conn.executemany(
                "INSERT INTO ledger_postings (transaction_id, account_id, amount, currency)"
                " VALUES (?, ?, ?, 'EUR')",
                [
                    row
                    for i in range(transactions)
                    for row in (
                        (first + i, ids["Expenses:Software" if i % 3 else "Income:Sales"],
                         (i % 5000 + 1) * (1 if i % 3 else -1)),
                        (first + i, ids["Assets:Bank"], -(i % 5000 + 1) * (1 if i % 3 else -1)),
                    )
                ],
            )
            conn.execute("UPDATE ledger_transactions SET sealed = 1 WHERE sealed = 0")
    finally:
        conn.close()


def test_register_of_100k_postings(qtbot: QtBot, gui_services: Services, aloop: object) -> None:
    started = time.perf_counter()
    bulk_ledger(gui_services.paths.database, 50_000)
    filled = time.perf_counter() - started
    win, page = books_page(qtbot, gui_services)
    started = time.perf_counter()
    page.set_filter()  # every month, every account
    page.reload_register()
    built = time.perf_counter() - started
    model = page.register_model
    assert model.rowCount() == 100_000
    view = page.register_view
    started = time.perf_counter()
    view.scrollToBottom()
    qtbot.wait(20)
    last = model.row_at(99_999)
    assert last is not None and last.date.year == 2026 and last.date.month == 12
    view.setCurrentIndex(model.index(50_000, 3))
    qtbot.keyClick(view, Qt.Key.Key_PageDown)
    assert view.currentIndex().row() > 50_000
    scrolled = time.perf_counter() - started
    dates = [model.row_at(r).date for r in (0, 1, 50_000, 99_999)]  # type: ignore[union-attr]
    assert dates == sorted(dates)
    assert len(model._pages) <= model.CACHED_PAGES
    page.set_filter(month="2026-03")
    march = model.rowCount()
    assert 0 < march < 100_000
    print(f"\n100,000 postings: filled in {filled:.2f} s, register built in {built:.3f} s, "
          f"scroll + page down {scrolled:.3f} s, March has {march} postings "
          "(figures on a shared machine)")


# -- the Jobs page ------------------------------------------------------------------------------
def test_jobs_page_toggle_run_now_history_and_sync_state(
    qtbot: QtBot, gui_services: Services, aloop: object
) -> None:
    import asyncio

    from solodesk.scheduler import JobContext, JobKind, JobResult, JobScheduler

    store = gui_services.store
    release = asyncio.Event()
    calls: list[str] = []

    async def echo(ctx: JobContext) -> JobResult:
        calls.append(ctx.trigger)
        await release.wait()
        if ctx.job.name == "broken":
            return JobResult(ok=False, detail="the server refused the login: check imap.username")
        return JobResult(detail="2 new mail", proposals=2, tokens_in=1200, tokens_out=300,
                         cost_usd=0.0125)

    kinds = {"echo": JobKind("echo", "test kind", echo)}
    store.jobs.add("daily-echo", schedule="0 7 * * 1-5", kind="echo", note="sync and triage")
    store.jobs.add("broken", schedule="every 30m", kind="echo", enabled=True)
    # the IMAP state: INBOX synced, Archive failing
    store.imap.start_folder("me@imap.example:993", "INBOX", 7)
    store.imap.finish_folder("me@imap.example:993", "INBOX", 7, highestmodseq=None, last_uid=5)
    store.imap.start_folder("me@imap.example:993", "Archive", 9)
    store.imap.record_error("me@imap.example:993", "Archive", "LOGIN failed: authentication")

    win = show_window(qtbot, gui_services)
    page = win.jobs
    page.scheduler = JobScheduler(
        store=store, config=gui_services.config, secrets=gui_services.secrets,
        bus=gui_services.bus, kinds=kinds,
    )
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_4, Qt.KeyboardModifier.ControlModifier)
    assert win.current_page() == "jobs"
    assert page.jobs_view.hasFocus()
    model = page.jobs_model
    rows = {model.index(r, 0).data(): r for r in range(model.rowCount())}
    assert set(rows) == {"morning-mail", "weekly-books", "invoice-reminders", "daily-echo",
                         "broken"}  # + the shipped jobs
    m = rows["daily-echo"]
    assert [model.index(m, c).data() for c in (1, 2, 3, 4, 5)] == [
        "0 7 * * 1-5", "echo", "off", "—", "never"
    ]
    assert model.index(rows["broken"], 4).data() not in ("—", "")  # enabled: a next run
    # enable from the keyboard: select, then the button's mnemonic
    assert page.select_job("daily-echo")
    assert page.toggle_button.text() == "&Enable"
    page.toggle_button.click()
    assert store.jobs.get("daily-echo").enabled
    assert page.toggle_button.text() == "&Disable"
    assert model.index(rows["daily-echo"], 3).data() == "on"
    # run now with Ctrl+R: progress shows while it runs, the history has it afterwards
    page.jobs_view.setFocus()
    qtbot.keyClick(page.jobs_view, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: calls == ["manual"])
    assert page.progress.isVisible() and page.run_label.text() == "Running daily-echo…"
    assert not page.run_button.isEnabled()
    release.set()
    qtbot.waitUntil(lambda: page.running is None)
    assert not page.progress.isVisible()
    history = page.history_model
    assert page.history_title.text() == "History of daily-echo"
    assert history.rowCount() == 1
    assert [history.index(0, c).data() for c in (2, 3, 4, 5, 6, 7)] == [
        "manual", "done", "2", "1,500", "$0.0125", "2 new mail"
    ]
    assert win.message_label.fullText() == "daily-echo: done — 2 new mail"
    # a failing job: red in the list and the status bar
    page.select_job("broken")
    release.set()
    run = page.tasks.spawn(page.run_now("broken"), name="run")
    assert run is not None
    qtbot.waitUntil(run.done)
    assert run.result() is not None and run.result().outcome == "failed"
    b = {model.index(r, 0).data(): r for r in range(model.rowCount())}["broken"]
    assert model.index(b, 6).data().startswith("failed: the server refused the login")
    assert model.index(b, 6).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert "b3261e" in win.message_label.styleSheet()
    # the IMAP sync state: the failing folder in red, with what to do
    sync = page.sync_model
    folders = {sync.index(r, 1).data(): r for r in range(sync.rowCount())}
    assert set(folders) == {"INBOX", "Archive"}
    assert sync.index(folders["INBOX"], 2).data() != "never"
    assert sync.index(folders["Archive"], 2).data() == "never"
    assert sync.index(folders["Archive"], 4).data() == "LOGIN failed: authentication"
    assert sync.index(folders["Archive"], 0).data(Qt.ItemDataRole.ForegroundRole) is not None
    assert sync.index(folders["INBOX"], 0).data(Qt.ItemDataRole.ForegroundRole) is None
    assert page.sync_problem.isVisible()
    assert "Archive: LOGIN failed" in page.sync_problem.text()
    assert "imap.password" in page.sync_problem.text()


def test_jobs_page_on_a_new_home(qtbot: QtBot, gui_services: Services, aloop: object) -> None:
    win = show_window(qtbot, gui_services)
    win.show_page("jobs")
    page = win.jobs
    model = page.jobs_model
    # the shipped jobs, off until the founder turns them on
    assert [[model.index(r, c).data() for c in (0, 2, 3, 4, 5)] for r in range(3)] == [
        ["invoice-reminders", "invoice_reminders", "off", "—", "never"],
        ["morning-mail", "mail_triage", "off", "—", "never"],
        ["weekly-books", "bookkeeping", "off", "—", "never"],
    ]
    assert model.rowCount() == 3
    assert page.selected_job() == "invoice-reminders"
    assert page.run_button.isEnabled() and page.toggle_button.text() == "&Enable"
    assert page.history_model.rowCount() == 0
    assert not page.empty_label.isVisible()
    assert page.sync_title.text().startswith("IMAP sync: no folder synced yet")
    assert not page.sync_problem.isVisible()


# -- the Invoices page --------------------------------------------------------------------------
def test_invoices_page_list_details_pdf_and_customers(
    qtbot: QtBot, gui_services: Services, aloop: object, tmp_path: Path
) -> None:
    from PySide6.QtCore import QUrl

    from solodesk.core.invoice import credit_note_for
    from tests.support.invoices import ACME, GLOBEX, draft

    store = gui_services.store
    paid = store.invoices.issue(draft(), action_id=None)  # 2026-0001, due 2026-03-16
    store.invoices.record_payment(paid.id, amount=paid.totals.grand_total, currency="EUR",
                                  paid_on=date(2026, 3, 10))
    partly = store.invoices.issue(draft(customer=GLOBEX, issue_date=date(2026, 5, 2),
                                        due_date=date(2026, 6, 1)), action_id=None)
    store.invoices.record_payment(partly.id, amount=10_000, currency="EUR",
                                  paid_on=date(2026, 5, 10))
    overdue = store.invoices.issue(draft(issue_date=date(2026, 5, 3),
                                         due_date=date(2026, 5, 10)), action_id=None)
    cancelled = store.invoices.issue(draft(issue_date=date(2026, 5, 4),
                                           due_date=date(2026, 6, 4)), action_id=None)
    store.invoices.issue(credit_note_for(cancelled, issue_date=date(2026, 5, 5)), action_id=None)
    store.invoices.record_pdf(overdue.id, b"%PDF-1.7 the approved bytes")

    win = show_window(qtbot, gui_services)
    page = win.invoices
    page.today = lambda: TODAY  # type: ignore[method-assign]
    opened: list[QUrl] = []
    page.open_url = lambda url: opened.append(url) or True
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_3, Qt.KeyboardModifier.ControlModifier)
    assert win.current_page() == "invoices" and page.view.hasFocus()
    model = page.model
    table = [[model.index(r, c).data() for c in range(6)] for r in range(model.rowCount())]
    total = paid.money(paid.totals.grand_total)
    assert table == [
        ["2026-0001", "Acme SARL", "2026-03-02", "2026-03-16", total, "paid"],
        ["2026-0002", "Globex Ltd", "2026-05-02", "2026-06-01", total, "partly paid"],
        ["2026-0003", "Acme SARL", "2026-05-03", "2026-05-10", total, "overdue 10 d"],
        ["2026-0004", "Acme SARL", "2026-05-04", "2026-06-04", total, "cancelled"],
        ["2026-0005", "Acme SARL", "2026-05-05", "—", total, "credit note"],
    ]
    assert model.index(2, 5).data(Qt.ItemDataRole.ForegroundRole) is not None  # overdue: red
    # details of the overdue one: lines and totals
    assert page.select("2026-0003")
    assert page.title.text() == "Invoice 2026-0003 — overdue 10 d"
    assert "To: Acme SARL, 1 rue de la Paix" in page.parties.text()
    lines = page.lines_model
    assert lines.rowCount() == 2
    assert [lines.item(1, c).text() for c in range(5)] == [
        "Travel time", "2.5", "33.33 EUR", "7 %", "83.33 EUR"
    ]
    t = overdue.totals
    assert f"Total {overdue.money(t.grand_total)}" in page.totals.text()
    assert "VAT 19 % on 1,200.00 EUR: 228.00 EUR" in page.totals.text()
    # open the PDF: Enter in the list writes it to a temp file and asks the desktop to open it
    page.view.setFocus()
    qtbot.keyClick(page.view, Qt.Key.Key_Return)
    assert len(opened) == 1
    shown = Path(opened[0].toLocalFile())
    assert shown.name == "2026-0003.pdf" and shown.read_bytes() == b"%PDF-1.7 the approved bytes"
    # save as
    out = tmp_path / "copy.pdf"
    assert page.choose_save() is not None
    QApplication.activeModalWidget().reject()  # type: ignore[union-attr]
    assert page.save_pdf(out) and out.read_bytes() == b"%PDF-1.7 the approved bytes"
    assert not page.save_pdf(tmp_path / "missing-dir" / "x.pdf")
    assert "not saved" in win.message_label.fullText()
    # an invoice without a stored PDF says how to get one, and opens nothing
    page.select("2026-0001")
    assert page.open_pdf() is None and len(opened) == 1
    assert "solodesk invoices pdf 2026-0001" in win.message_label.fullText()
    # customers
    page.tabs.setCurrentIndex(1)
    customers = page.customers_model
    assert [customers.item(r, 0).text() for r in range(customers.rowCount())] == [
        ACME.name, GLOBEX.name
    ]
    assert customers.item(0, 2).text() == ACME.vat_id


def test_pages_follow_the_back_end(qtbot: QtBot, gui_services: Services, aloop: object) -> None:
    """A booking executed by the outbox reaches the Books page (now if shown, else when next
    shown); a job run elsewhere (the scheduler, `solodesk serve`) reaches the Jobs page."""
    from solodesk.core.events import OutboxExecuted, Progress

    store, bus = gui_services.store, gui_services.bus
    win = show_window(qtbot, gui_services)
    win.books.today = lambda: TODAY  # type: ignore[method-assign]
    win.show_page("books")
    assert win.books.register_model.rowCount() == 0
    win.show_page("inbox")
    book(store, date(2026, 5, 2), "Beta Ltd", "Income:Sales", -120_000)
    bus.publish(OutboxExecuted(1, "executed"))
    qtbot.wait(50)
    win.show_page("books")
    qtbot.waitUntil(lambda: win.books.register_model.rowCount() == 2)
    book(store, date(2026, 5, 3), "Hetzner", "Expenses:Software", 3_570)
    bus.publish(OutboxExecuted(2, "executed"))
    qtbot.waitUntil(lambda: win.books.register_model.rowCount() == 4)  # shown: at once
    # a job run recorded by another process, announced on the bus
    win.show_page("jobs")
    assert win.jobs.select_job("morning-mail")
    job = store.jobs.get("morning-mail")
    run = store.jobs.claim(job, "manual:2026-05-20T07:00:00.000000Z", trigger="manual",
                           now="2026-05-20T07:00:00.000000Z")
    assert run is not None
    store.jobs.finish(run.id, outcome="done", detail="1 new mail",
                      now="2026-05-20T07:00:05.000000Z")
    bus.publish(Progress(task="job:morning-mail", done=1, total=1, message="done"))
    qtbot.waitUntil(lambda: win.jobs.history_model.rowCount() == 1)
    jobs_model = win.jobs.jobs_model
    row = next(r for r in range(jobs_model.rowCount())
               if jobs_model.index(r, 0).data() == "morning-mail")
    assert jobs_model.index(row, 6).data() == "done: 1 new mail"
