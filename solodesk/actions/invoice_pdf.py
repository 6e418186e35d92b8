"""Invoice documents: the EN 16931 XML checked against its schema, and the PDF/A-3 carrying it.

The PDF is drawn with fpdf2 in its PDF/A-3B mode (fonts embedded, sRGB output intent), with
DejaVu Sans embedded so that text extraction and copy-paste work; then the ``factur-x``
library embeds the CII XML as ``factur-x.xml`` (AFRelationship ``Data``) and writes the
PDF/A-3 + Factur-X XMP metadata (profile EN 16931). The result is a Factur-X 1.0 /
ZUGFeRD 2.x "EN 16931" hybrid invoice: a person reads the PDF, software reads the XML.

Rendering is an effect's preparation (it runs when an approved ``create_invoice`` is executed),
so it lives in ``actions``. It is CPU work of a few hundred milliseconds: callers on the event
loop run it in a worker thread.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from solodesk.core.invoice import (
    CATEGORY_NAMES,
    UNIT_CODES,
    IssuedInvoice,
    VatCategory,
    format_decimal,
)
from solodesk.core.money import format_money
from solodesk.core.references import format_creditor_reference

#: Exact versions this module was written and tested against (their APIs changed before).
FACTURX_VERSION = "7.8"
FPDF2_VERSION = "2.8.9"

#: Where the DejaVu fonts are on common systems (Debian/Ubuntu ``fonts-dejavu-core``, Fedora,
#: Arch, openSUSE, Homebrew, a user install).
FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu-sans-fonts",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/share/fonts/truetype",
    "/usr/local/share/fonts",
    "/opt/homebrew/share/fonts",
    "~/.local/share/fonts",
    "~/Library/Fonts",
)
REGULAR, BOLD = "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"

logging.getLogger("factur-x").setLevel(logging.WARNING)
logging.getLogger("fontTools").setLevel(logging.WARNING)


class EInvoiceInvalid(ValueError):
    """The XML does not validate against the EN 16931 schema; the message has the error."""


class RenderError(RuntimeError):
    """The PDF could not be made; the message says why and what to do."""


def check_xsd(xml: bytes) -> None:
    """Validate CII XML against the Factur-X EN 16931 XSD the ``factur-x`` library ships.

    Raises:
        EInvoiceInvalid: with the schema validator's first error (line and element).
    """
    import facturx

    try:
        facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    except Exception as exc:  # the library raises bare Exception
        raise EInvoiceInvalid(f"EN 16931 XML is not valid against its XSD: {exc}") from None


def find_fonts(font_dir: str | Path | None = None) -> tuple[Path, Path]:
    """The DejaVu Sans regular and bold TTF files.

    Args:
        font_dir: A folder holding ``DejaVuSans.ttf`` and ``DejaVuSans-Bold.ttf`` (the
            ``invoices.font_dir`` setting); empty or ``None`` searches :data:`FONT_DIRS`.

    Raises:
        RenderError: the fonts are not found; the message says how to install them.
    """
    dirs = [str(font_dir)] if font_dir else list(FONT_DIRS)
    for d in dirs:
        folder = Path(os.path.expanduser(d))
        regular, bold = folder / REGULAR, folder / BOLD
        if regular.is_file() and bold.is_file():
            return regular, bold
    where = f"in {font_dir}" if font_dir else "in any of " + ", ".join(FONT_DIRS)
    raise RenderError(
        f"cannot draw the invoice PDF: the DejaVu Sans fonts ({REGULAR}, {BOLD}) are not "
        f"{where}. Install them (Debian/Ubuntu: apt install fonts-dejavu-core) or point "
        "'solodesk config set invoices.font_dir FOLDER' at a folder that has them"
    )


def render_invoice_pdf(
    invoice: IssuedInvoice, xml: bytes, *, font_dir: str | Path | None = None, lang: str = "en"
) -> bytes:
    """The Factur-X (EN 16931) PDF/A-3B of ``invoice`` with ``xml`` embedded.

    Args:
        invoice: The issued invoice (it has its number).
        xml: Its CII XML (:func:`solodesk.core.cii.cii_xml`); checked against the XSD here.
        font_dir: Folder of the DejaVu fonts (see :func:`find_fonts`).
        lang: Document language (RFC 3066), written into the PDF catalog.

    Returns:
        The PDF bytes.

    Raises:
        EInvoiceInvalid: the XML is not valid against the EN 16931 XSD.
        RenderError: fonts missing, or the PDF library failed.
    """
    import facturx

    check_xsd(xml)
    base = _draw(invoice, find_fonts(font_dir), lang)
    d = invoice.draft
    try:
        out: bytes = facturx.generate_from_binary(
            base,
            xml,
            flavor="factur-x",
            level="en16931",
            check_xsd=False,  # checked above, with our error
            pdf_metadata={
                "author": d.seller.name,
                "title": f"{d.seller.name}: {invoice.type_name} {invoice.number}",
                "subject": (
                    f"{invoice.type_name} {invoice.number} dated {d.issue_date.isoformat()} "
                    f"issued by {d.seller.name}"
                ),
            },
            lang=lang,
            # PDF/A: the XMP metadata stream is not filtered.
            xmp_compression=False,
        )
        return _sync_info_with_xmp(out)
    except Exception as exc:
        raise RenderError(f"cannot embed the XML into the invoice PDF: {exc}") from exc


def _sync_info_with_xmp(pdf: bytes) -> bytes:
    """Make the document information dictionary agree with the XMP metadata (PDF/A-3,
    ISO 19005-3 6.6.2.3): the library writes an empty ``/Keywords`` XMP lacks, and takes the
    Info and XMP timestamps at two different moments."""
    import io

    from pypdf import PdfReader, PdfWriter

    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.xmp_metadata
    info: dict[str, Any] = dict(reader.metadata or {})
    info.pop("/Keywords", None)
    if xmp is not None and xmp.xmp_create_date is not None:
        stamp = xmp.xmp_create_date.astimezone(UTC).strftime("D:%Y%m%d%H%M%S+00'00'")
        info["/CreationDate"] = info["/ModDate"] = stamp
    if xmp is not None and xmp.pdf_producer:
        info["/Producer"] = xmp.pdf_producer
    writer = PdfWriter(clone_from=reader)
    writer.metadata = info
    writer.pdf_header = b"%PDF-1.7"  # PDF/A-3 is based on PDF 1.7 (ISO 32000-1)
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


# -- drawing ------------------------------------------------------------------------------------
_GREY = (90, 90, 90)
_LIGHT = (235, 235, 235)


def _draw(invoice: IssuedInvoice, fonts: tuple[Path, Path], lang: str) -> bytes:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    d, t = invoice.draft, invoice.totals
    cur = d.currency

    def money(minor: int) -> str:
        return format_money(minor, cur)

    seller_line = " · ".join(
        p for p in (d.seller.name, d.seller.vat_id and f"VAT ID {d.seller.vat_id}",
                    d.seller.tax_id and f"Tax no. {d.seller.tax_id}",
                    d.seller.legal_id and f"Reg. {d.seller.legal_id}", d.seller.email) if p
    )

    class _Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("DejaVu", size=7.5)
            self.set_text_color(*_GREY)
            self.cell(0, 4, seller_line, align="L")
            self.cell(0, 4, f"{invoice.number} · page {self.page_no()}/{{nb}}", align="R",
                      new_x="LMARGIN", new_y="NEXT")

    pdf = _Doc(format="A4", unit="mm", enforce_compliance="PDFA_3B")
    pdf.set_creation_date(datetime.combine(d.issue_date, time(0, 0), tzinfo=UTC))
    pdf.set_title(f"{invoice.type_name} {invoice.number}")
    pdf.set_author(d.seller.name)
    pdf.set_creator("SoloDesk")
    pdf.set_lang(lang)
    pdf.add_font("DejaVu", "", str(fonts[0]))
    pdf.add_font("DejaVu", "B", str(fonts[1]))
    pdf.set_margins(18, 16, 18)
    pdf.set_auto_page_break(True, margin=22)
    pdf.add_page()
    width = pdf.epw

    # Seller (left) and document title (right).
    pdf.set_font("DejaVu", "B", 15)
    pdf.multi_cell(width * 0.6, 7, d.seller.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=8.5)
    pdf.set_text_color(*_GREY)
    pdf.multi_cell(width * 0.6, 4.2, "\n".join(d.seller.address.lines()), new_x="LMARGIN",
                   new_y="NEXT")
    top_after_seller = pdf.get_y()
    pdf.set_xy(pdf.l_margin + width * 0.6, 16)
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "B", 17)
    pdf.cell(width * 0.4, 8, invoice.type_name.upper(), align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_font("DejaVu", size=9)
    facts = [("Number", invoice.number), ("Date", d.issue_date.isoformat())]
    if d.delivery_date:
        facts.append(("Delivery date", d.delivery_date.isoformat()))
    if d.due_date:
        facts.append(("Due date", d.due_date.isoformat()))
    if d.buyer_reference:
        facts.append(("Your reference", d.buyer_reference))
    if d.preceding_invoice:
        facts.append(("Cancels invoice", d.preceding_invoice))
    for label, value in facts:
        pdf.set_x(pdf.l_margin + width * 0.6)
        pdf.cell(width * 0.4, 5, f"{label}: {value}", align="R", new_x="LEFT", new_y="NEXT")
    pdf.set_y(max(pdf.get_y(), top_after_seller) + 8)

    # Customer.
    pdf.set_font("DejaVu", size=7.5)
    pdf.set_text_color(*_GREY)
    pdf.cell(0, 4, "BILL TO", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)
    pdf.set_font("DejaVu", "B", 10)
    pdf.multi_cell(width * 0.6, 5, d.customer.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=9)
    customer_lines = d.customer.address.lines()
    if d.customer.vat_id:
        customer_lines.append(f"VAT ID {d.customer.vat_id}")
    pdf.multi_cell(width * 0.6, 4.5, "\n".join(customer_lines), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(8)

    # Lines.
    pdf.set_font("DejaVu", size=8.5)
    head = FontFace(emphasis="BOLD", fill_color=_LIGHT)
    with pdf.table(
        col_widths=(7, 68, 14, 14, 24, 12, 27),
        text_align=("RIGHT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=head,
        line_height=4.6,
        borders_layout="HORIZONTAL_LINES",
        padding=1.2,
    ) as table:
        table.row(("#", "Description", "Qty", "Unit", "Unit price", "VAT", "Net amount"))
        for i, (ln, net) in enumerate(zip(d.lines, t.line_nets, strict=True), start=1):
            vat = (f"{format_decimal(ln.vat_rate)} %" if ln.vat_category is VatCategory.STANDARD
                   else ln.vat_category.value)
            table.row((str(i), ln.description, format_decimal(ln.quantity),
                       UNIT_CODES.get(ln.unit, ln.unit), money(ln.unit_price), vat, money(net)))
    pdf.ln(4)

    # Totals.
    rows: list[tuple[str, str, bool]] = [("Total net", money(t.tax_basis_total), False)]
    for b in t.breakdown:
        if b.category is VatCategory.STANDARD:
            label = f"VAT {format_decimal(b.rate)} % on {money(b.taxable)}"
        else:
            label = f"VAT {b.category.value} ({CATEGORY_NAMES[b.category]}) on {money(b.taxable)}"
        rows.append((label, money(b.tax), False))
    rows.append(("Total", money(t.grand_total), True))
    if not d.is_credit_note:
        rows.append(("Amount due", money(t.due_payable), True))
    else:
        rows.append(("Amount credited", money(t.grand_total), True))
    if pdf.get_y() + 5.5 * len(rows) > pdf.page_break_trigger:
        pdf.add_page()  # the totals stay together
    for label, value, bold in rows:
        pdf.set_font("DejaVu", "B" if bold else "", 9.5 if bold else 9)
        pdf.set_x(pdf.l_margin + width * 0.35)
        pdf.cell(width * 0.43, 5.5, label, align="R")
        pdf.cell(width * 0.22, 5.5, value, align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(5)

    # Notes, exemptions, payment.
    notes: list[str] = []
    for b in t.breakdown:
        if b.exemption_reason:
            notes.append(f"VAT {b.category.value}: {b.exemption_reason}.")
    if d.note:
        notes.append(d.note)
    if not d.is_credit_note:
        pay = [f"Please pay {money(t.due_payable)}"]
        if d.due_date:
            pay.append(f"by {d.due_date.isoformat()}")
        pay.append("by bank transfer")
        notes.append(" ".join(pay) + ".")
        account = [f"IBAN {_group(d.seller.iban)}"]
        if d.seller.bic:
            account.append(f"BIC {d.seller.bic}")
        account.append(f"Reference {format_creditor_reference(invoice.creditor_reference)}")
        notes.append(" · ".join(account))
        if d.payment_terms:
            notes.append(d.payment_terms)
    _paragraphs(pdf, notes)
    return bytes(pdf.output())


def _paragraphs(pdf: Any, texts: Sequence[str]) -> None:
    for text in texts:
        pdf.set_font("DejaVu", size=9)
        pdf.multi_cell(0, 4.6, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.2)


def _group(iban: str) -> str:
    compact = iban.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
