"""Pure ledger logic: account names, balance checks, categorisation, reports, journals."""

from __future__ import annotations

from datetime import date

import pytest

from solodesk.core.categorise import (
    CategoryRule,
    Decider,
    PastChoice,
    RuleField,
    categorise,
    normalise_text,
    payee_key,
    postings_for,
)
from solodesk.core.journal import export_journal, to_beancount, to_hledger
from solodesk.core.ledger import (
    AccountBalance,
    AccountType,
    BookedTransaction,
    LedgerError,
    Posting,
    Transaction,
    UnbalancedTransaction,
    account_type,
    balance_sheet,
    check_transaction,
    month_bounds,
    profit_and_loss,
    render_balance_sheet,
    render_pnl,
    validate_account_name,
)

T = Transaction(date(2026, 3, 2), "GitHub", "plan")


def test_account_names() -> None:
    for good in ("Assets:Bank", "Expenses:Fees:Bank", "Income:Sales-EU", "Assets:Bank:N26",
                 "Expenses:Büro", "Liabilities:2026-Loan"):
        assert validate_account_name(good) == good
    assert account_type("Expenses:Fees:Bank") is AccountType.EXPENSES
    for bad, message in [
        ("", "required"),
        ("Bank", "must start with one of"),
        ("Assets", "needs a sub-account"),
        ("Assets::Bank", "empty component"),
        ("Assets:bank", "capital letter"),
        ("Assets:Bank Account", "capital letter"),
        ("Assets:Bank_1", "capital letter"),
    ]:
        with pytest.raises(LedgerError, match=message):
            validate_account_name(bad)


def test_check_transaction() -> None:
    check_transaction(T, [Posting("Assets:Bank", -1, "EUR"), Posting("Expenses:Other", 1, "EUR")])
    with pytest.raises(UnbalancedTransaction, match=r"0\.02 EUR, -1 JPY"):
        check_transaction(T, [
            Posting("Assets:Bank", 3, "EUR"), Posting("Expenses:Other", -1, "EUR"),
            Posting("Assets:Bank", -1, "JPY"),
        ])
    with pytest.raises(LedgerError, match="zero amount"):
        check_transaction(
            T, [Posting("Assets:Bank", 0, "EUR"), Posting("Income:Other", 0, "EUR")]
        )
    with pytest.raises(LedgerError, match="unknown currency"):
        check_transaction(
            T, [Posting("Assets:Bank", 1, "EURO"), Posting("Income:Other", -1, "EURO")]
        )


def test_month_bounds() -> None:
    assert month_bounds("2026-02") == (date(2026, 2, 1), date(2026, 3, 1))
    assert month_bounds("2026-12") == (date(2026, 12, 1), date(2027, 1, 1))
    for bad in ("2026-13", "26-01", "2026/01", "march"):
        with pytest.raises(LedgerError, match="YYYY-MM"):
            month_bounds(bad)


# -- categorisation -----------------------------------------------------------------------------
def test_normalised_payee() -> None:
    assert normalise_text("AMAZON Web Services EMEA SARL *1234") == "amazon web services emea sarl"
    assert payee_key("Café Müller") == "cafe muller"
    fee = payee_key("", "Kontofuehrungsentgelt Maerz 2026 extra")
    assert fee == "kontofuehrungsentgelt maerz extra"


def test_rules_first_then_history_then_model() -> None:
    rules = [
        CategoryRule(7, "db vertrieb", "Expenses:Travel", RuleField.PAYEE),
        CategoryRule(3, r"^GitHub\b", "Expenses:Software", RuleField.ANY, regex=True),
        CategoryRule(9, "subscription", "Expenses:Other", RuleField.DESCRIPTION),
    ]
    history = [
        PastChoice("Expenses:Office", 1, date(2026, 1, 3)),
        PastChoice("Expenses:Software", 4, date(2026, 2, 3)),
    ]
    by_rule = categorise("GitHub, Inc.", "GitHub Team subscription", rules=rules, history=history)
    assert (by_rule.account, by_rule.decided_by, by_rule.label) == (
        "Expenses:Software", Decider.RULE, "rule #3",
    )
    assert "matches #3" in by_rule.evidence
    assert categorise("DB Vertrieb GmbH", "", rules=rules, history=[]).label == "rule #7"
    # A payee rule does not look at the description.
    assert categorise("x", "DB Vertrieb", rules=rules[:1], history=[]).label == "model"
    by_history = categorise("Hetzner", "servers", rules=rules, history=history)
    assert (by_history.account, by_history.label) == ("Expenses:Software", "history")
    assert "4 times" in by_history.evidence and "also Expenses:Office ×1" in by_history.evidence
    tie = [PastChoice("Expenses:Office", 2, date(2026, 1, 3)),
           PastChoice("Expenses:Telecom", 2, date(2026, 2, 3))]
    assert categorise("x", "", rules=[], history=tie).account == "Expenses:Telecom"
    nobody = categorise("Someone new", "", rules=rules, history=[])
    assert (nobody.account, nobody.decided_by, nobody.label) == (None, Decider.MODEL, "model")


def test_plain_rules_ignore_case_accents_digits_and_punctuation() -> None:
    rule = CategoryRule(1, "cafe muller", "Expenses:Meals", RuleField.PAYEE)
    assert rule.matches("CAFÉ MÜLLER, Köln 0815", "")
    assert CategoryRule(2, "GITHUB", "Expenses:Software").matches("github, inc.", "")
    assert not rule.matches("Cafeteria", "")


def test_postings_for_a_bank_line() -> None:
    out = postings_for(-4900, "EUR", bank_account="Assets:Bank", category="Expenses:Software")
    assert out == (Posting("Assets:Bank", -4900, "EUR"), Posting("Expenses:Software", 4900, "EUR"))
    check_transaction(T, out)


# -- reports ------------------------------------------------------------------------------------
BALANCES = [
    AccountBalance("Assets:Bank", "EUR", 331310),
    AccountBalance("Equity:Opening-Balances", "EUR", -100000),
    AccountBalance("Income:Sales", "EUR", -238000),
    AccountBalance("Expenses:Software", "EUR", 4900),
    AccountBalance("Expenses:Travel", "EUR", 1290),
    AccountBalance("Expenses:Fees:Bank", "EUR", 500),
    AccountBalance("Liabilities:Payables", "EUR", 0),
    AccountBalance("Assets:Bank", "USD", 8000),
    AccountBalance("Income:Other", "USD", -8000),
]


def test_profit_and_loss_per_currency() -> None:
    eur, usd = profit_and_loss(BALANCES)
    assert eur.currency == "EUR" and eur.total_income == 238000
    assert eur.total_expenses == 6690 and eur.net == 231310
    assert [r.account for r in eur.expenses] == [
        "Expenses:Fees:Bank", "Expenses:Software", "Expenses:Travel",
    ]
    assert (usd.total_income, usd.net) == (8000, 8000)
    text = render_pnl([eur, usd], period="2026-03")
    assert "Profit and loss, 2026-03 (EUR)" in text and "2,313.10 EUR" in text
    assert "Net profit" in text
    assert render_pnl([], period="2026-03").endswith("no income or expenses booked")


def test_balance_sheet_balances() -> None:
    assert sum(b.amount for b in BALANCES if b.currency == "EUR") == 0
    sheets = balance_sheet(BALANCES)
    for s in sheets:
        assert s.total_assets == s.total_liabilities + s.total_equity
    eur = sheets[0]
    assert eur.earnings == 231310 and [r.amount for r in eur.equity] == [100000]
    text = render_balance_sheet(sheets, at=date(2026, 3, 31))
    assert "Balance sheet at 2026-03-31 (EUR)" in text
    assert "Total liabilities and equity" in text and "3,313.10 EUR" in text


# -- journals -----------------------------------------------------------------------------------
def booked(i: int, d: date, payee: str, narration: str, *postings: Posting) -> BookedTransaction:
    return BookedTransaction(i, d, payee, narration, postings, None, None, "now")


def test_journals_escape_text_and_write_exact_amounts() -> None:
    txns = [
        booked(2, date(2026, 3, 9), 'Acme "Tools" | GmbH; Berlin', "Invoice\n2026-007",
               Posting("Assets:Bank", 238000, "EUR"), Posting("Income:Sales", -238000, "EUR")),
        booked(1, date(2026, 3, 2), "Shop", "back\\slash",
               Posting("Assets:Bank", -1, "KWD"), Posting("Expenses:Other", 1, "KWD")),
    ]
    accounts = [("Assets:Bank", "bank"), ("Income:Sales", ""), ("Expenses:Other", "")]
    bean = to_beancount(accounts, txns, today=date(2026, 4, 1))
    assert '2026-03-09 * "Acme \\"Tools\\" | GmbH; Berlin" "Invoice 2026-007"' in bean
    assert "  Assets:Bank  2380.00 EUR" in bean and "  Expenses:Other  0.001 KWD" in bean
    assert bean.index("2026-03-02 *") < bean.index("2026-03-09 *")  # date order
    assert "2026-03-02 open Assets:Bank" in bean
    led = to_hledger(accounts, txns, today=date(2026, 4, 1))
    assert "2026-03-09 * Acme \"Tools\" / GmbH, Berlin | Invoice 2026-007  ; solodesk-id:2" in led
    assert "commodity 1000.000 KWD" in led and "account Income:Sales  ; type: R" in led
    assert export_journal("hledger", accounts, txns, today=date(2026, 4, 1)) == led
    with pytest.raises(ValueError, match="beancount or hledger"):
        export_journal("ledger", accounts, txns, today=date(2026, 4, 1))


def test_a_models_reason_is_usable_only_in_its_own_words() -> None:
    from solodesk.core.categorise import reason_problems

    echoes = ["Book the bank line on one account of the chart, with a one-sentence reason.",
              "one sentence: why"]

    def problems(reason: str) -> list[str]:
        return reason_problems(reason, account="Expenses:Travel", echoes=echoes)

    assert problems("a train ticket to a client") == []
    assert problems("hosting") == []  # terse, but its own word
    assert "words of your instructions" in problems("One sentence")[0]
    assert "words of your instructions" in problems(echoes[0])[0]
    assert "must not be empty" in problems("  ")[0]
    assert "not prose" in problems('{"account": "Expenses:Travel"}')[0]
    assert "talks about the tool" in problems("I call the tool as asked")[0]
