"""The source-mail pane and the editor on real-world-shaped mail: sender warnings, addresses in
monospace with look-alike characters highlighted, an unknown date, the HTML view that loads
nothing from outside, and approvals refused up front when sending cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QFontInfo, QTextDocument
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from solodesk.connectors.mailimport import import_mail
from solodesk.core.actions import ActionStatus
from solodesk.services import Services, mail_preflight
from solodesk.ui.inbox_view import InboxView
from solodesk.ui.mail_render import CAPITAL_STYLE, CONFUSABLE_STYLE, SafeMailBrowser
from tests.gui.conftest import Drive
from tests.gui.support import propose_reply

pytestmark = pytest.mark.gui

DATA = Path(__file__).resolve().parents[1] / "data" / "mail"


def plain(rich: str) -> str:
    """What a rich-text label reads as."""
    doc = QTextDocument()
    doc.setHtml(rich)
    return doc.toPlainText()


def _show(qtbot: QtBot, services: Services, name: str, **changes: object) -> InboxView:
    (mail_id,) = import_mail(DATA / name, services.store.mail).imported
    mail = services.store.mail.get(mail_id)
    propose_reply(services.store, mail_id, to=[mail.reply_address], **changes)
    view = InboxView(services.store, services.runner)
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    return view


def test_phishing_sample_shows_warnings_and_highlights_the_capital_i(
    qtbot: QtBot, gui_services: Services
) -> None:
    view = _show(qtbot, gui_services, "phish_lookalike_reply_to.eml")
    pane = view.source
    assert pane.warnings_label.isVisible()
    warnings = plain(pane.warnings_label.text())
    # Domains in the warnings are monospace too, the capital I highlighted.
    assert f'<span style="{CAPITAL_STYLE}">I</span>' in pane.warnings_label.text()
    assert "Reply-To look-alike domain: aquiIlaindustries.com looks like aquillaindustries.com" \
        in warnings
    assert "replies go to aquiIlaindustries.com, not aquillaindustries.com" in warnings
    headers = pane.headers_label.text()
    assert "monospace" in headers
    assert f'<span style="{CAPITAL_STYLE}">I</span>' in headers  # the I of aquiIla
    assert "U+0049 capital letter in the domain" in pane.headers_label.toolTip()
    # The editor's recipient list shows the same address the same way.
    recipients = view.editor.recipients_label.text()
    assert f'<span style="{CAPITAL_STYLE}">I</span>' in recipients
    assert "U+0049" in view.editor.recipients_label.toolTip()
    assert QFontInfo(view.editor.to_edit.font()).fixedPitch()


def test_mixed_script_and_punycode_addresses_name_the_code_points(
    qtbot: QtBot, gui_services: Services
) -> None:
    view = _show(qtbot, gui_services, "mixed_script_domain.eml")
    headers = view.source.headers_label.text()
    assert f'<span style="{CONFUSABLE_STYLE}">\u0435</span>' in headers
    assert "U+0435 CYRILLIC SMALL LETTER IE" in view.source.headers_label.toolTip()
    assert "mixes scripts" in plain(view.source.warnings_label.text())
    assert "U+0435" in view.editor.recipients_label.toolTip()


def test_punycode_sender_shows_what_it_displays_as(qtbot: QtBot, gui_services: Services) -> None:
    view = _show(qtbot, gui_services, "punycode_lookalike.eml")
    headers = view.source.headers_label.text()
    assert "xn--exmple-4nf.com" in headers and "displays as" in headers
    assert f'<span style="{CONFUSABLE_STYLE}">\u0430</span>' in headers
    assert "xn--exmple-4nf.com is punycode for ex\u0430mple.com" in \
        view.source.headers_label.toolTip()


def test_display_name_that_is_an_address_is_flagged_not_shown_as_the_sender(
    qtbot: QtBot, gui_services: Services
) -> None:
    view = _show(qtbot, gui_services, "display_name_is_address.eml")
    headers = view.source.headers_label.text()
    assert "bob@example.net" in headers
    assert "display name “alice@example.com” is not this address" in plain(headers)
    assert "From display name shows alice@example.com" in plain(view.source.warnings_label.text())


def test_unknown_date_and_ordinary_mail_without_warnings(
    qtbot: QtBot, gui_services: Services
) -> None:
    view = _show(qtbot, gui_services, "missing_date_no_message_id.eml")
    headers = view.source.headers_label.text()
    assert "<b>Date:</b> unknown" in headers and "None" not in headers
    assert view.source.warnings_label.isHidden()
    assert view.source.view_toggle.isHidden()  # plain text only: no HTML view


def test_html_view_renders_inline_images_and_loads_nothing_from_outside(
    qtbot: QtBot, gui_services: Services
) -> None:
    view = _show(qtbot, gui_services, "html_remote_images.eml")
    pane = view.source
    assert pane.body_view.isVisible() and pane.html_view.isHidden()
    assert pane.view_toggle.isVisible() and pane.view_toggle.text() == "View HTML  (Alt+V)"
    qtbot.mouseClick(pane.view_toggle, Qt.MouseButton.LeftButton)
    assert pane.html_view.isVisible() and pane.body_view.isHidden()
    assert pane.view_toggle.text() == "View text  (Alt+V)"
    assert "Hi Ada, here is what I see" in pane.html_view.toPlainText()
    assert pane.html_view.loaded == ["cid:shot@example.com"]
    assert sorted(pane.html_view.blocked) == [
        "file:///etc/hostname",
        "https://tracker.example.net/open.gif",
    ]
    assert pane.resources_label.isVisible()
    assert pane.resources_label.text().startswith("2 remote images or files not loaded")
    qtbot.mouseClick(pane.view_toggle, Qt.MouseButton.LeftButton)
    assert pane.body_view.isVisible() and pane.html_view.isHidden()
    view.activateWindow()
    qtbot.waitUntil(view.isActiveWindow)
    view.table.setFocus()
    qtbot.waitUntil(view.table.hasFocus)
    focused = QApplication.focusWidget()
    assert focused is not None
    # The shortcut works from anywhere in the window (here: the list has focus).
    qtbot.keyClick(focused, Qt.Key.Key_V, Qt.KeyboardModifier.AltModifier)
    assert pane.html_view.isVisible() and pane.view_toggle.isChecked()


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/a.png",
        "https://example.com/a.css",
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "data:image/png;base64,iVBORw0KGgo=",
        "qrc:/icon.png",
        "relative/path.png",
        "cid:not-in-the-message",
    ],
)
def test_safe_browser_refuses_every_resource_but_the_messages_own(
    qtbot: QtBot, url: str
) -> None:
    browser = SafeMailBrowser()
    qtbot.addWidget(browser)
    browser.show_html("<p>x</p>", resolve_cid=lambda _cid: None)
    image = QTextDocument.ResourceType.ImageResource.value
    assert browser.loadResource(image, QUrl(url)) is None
    assert browser.blocked == [url]


def test_approval_refused_up_front_keeps_the_proposal_pending(
    qtbot: QtBot, gui_services: Services, drive: Drive[object]
) -> None:
    gui_services.runner.preflight = mail_preflight(gui_services.config, gui_services.secrets)
    gui_services.config.set("smtp.host", "")
    view = _show(qtbot, gui_services, "broken_date.eml")
    messages: list[str] = []
    problems: list[str] = []
    view.message.connect(messages.append)
    view.problem.connect(problems.append)
    action_id = view.editor.action.id if view.editor.action else 0
    assert drive(view.approve_selected()) is None
    assert gui_services.store.actions.get(action_id).status is ActionStatus.PENDING
    assert problems and "not approved" in problems[-1]
    assert problems[-1].startswith(f"#{action_id} not approved: sending cannot work yet, so it "
                                   "stays as it is: no SMTP server: set smtp.host")
