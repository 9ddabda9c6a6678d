"""The SMTP adapter against a real SMTP server (the demo's aiosmtpd catcher on a free port):
the message as it arrives, plain refusals when the server is away, and the container's choice
from configuration."""

from __future__ import annotations

import socket
from email import policy
from email.parser import BytesParser

import pytest

from accounts_sync.adapters.mail.smtp_notifier import NoNotifier, SmtpNotifier
from accounts_sync.application.ports import NotificationFailed
from accounts_sync.container import build_container
from accounts_sync.demo.mail_catcher import caught, start_catcher


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def catcher(tmp_path):
    running = start_catcher(tmp_path / "mail", free_port())
    yield running
    running.stop()


def test_an_alert_arrives_as_a_plain_text_message(catcher):
    notifier = SmtpNotifier("127.0.0.1", catcher.port, security="none",
                            sender="Accounts Sync <accounts-sync@winery.example>")
    notifier.send(["books@winery.example", "owner@winery.example"],
                  "Accounts Sync: 2 refunds not sent", "RF-7 (Xero): Account 4010 is archived.\n€ ok")
    [path] = list(catcher.folder.glob("*.eml"))
    message = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
    assert message["Subject"] == "Accounts Sync: 2 refunds not sent"
    assert message["To"] == "books@winery.example, owner@winery.example"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].endswith("@winery.example>")
    assert message.get_body(("plain",)).get_content().startswith("RF-7 (Xero): Account 4010")
    assert "€ ok" in message.get_body(("plain",)).get_content()
    [shown] = caught(catcher.folder)  # what the demo's Mail page lists
    assert (shown.subject, shown.to) == ("Accounts Sync: 2 refunds not sent",
                                         "books@winery.example, owner@winery.example")


def test_a_server_that_is_not_there_is_a_plain_refusal():
    notifier = SmtpNotifier("127.0.0.1", free_port(), security="none", password="s3cret-pass")
    with pytest.raises(NotificationFailed, match=r"could not be reached \(Connection refused\)"):
        notifier.send(["books@winery.example"], "subject", "body")
    assert "s3cret" not in repr(notifier)


def test_starttls_refused_by_a_server_without_it_says_what_to_set(catcher):
    notifier = SmtpNotifier("127.0.0.1", catcher.port, security="starttls")
    with pytest.raises(NotificationFailed, match="does not offer STARTTLS"):
        notifier.send(["books@winery.example"], "subject", "body")


def test_the_configuration_chooses_the_notifier():
    base = {"database_url": "sqlite://", "base_url": "http://erp.test"}
    assert isinstance(build_container(base).notifier(), NoNotifier)
    chosen = build_container({**base, "smtp_host": "mail.winery.example", "smtp_port": 465,
                              "smtp_security": "ssl"}).notifier()
    assert isinstance(chosen, SmtpNotifier) and (chosen.port, chosen.security) == (465, "ssl")
    with pytest.raises(ValueError, match="SMTP_SECURITY 'tls' is not"):
        build_container({**base, "smtp_host": "mail.winery.example", "smtp_security": "tls"})
