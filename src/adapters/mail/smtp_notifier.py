"""The Notifier port by email over SMTP, with the standard library's smtplib and email.

Why the standard library rather than a mail package: smtplib and email.message are maintained
with CPython itself and do all that alerts need (STARTTLS or implicit TLS with certificate
checks, AUTH, RFC 5322 messages with correct encodings); the wrappers on PyPI add a Flask
application context (Flask-Mail: adapters must not import Flask), HTML rendering stacks
(python-emails pulls in lxml and cssutils) or have had no release for years (red-mail). Each
alert is one short plain-text message, sent from a background thread or worker.
"""

from __future__ import annotations

import logging
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from ...application.ports import NotificationFailed

log = logging.getLogger(__name__)

SECURITY = ("starttls", "ssl", "none")


class SmtpNotifier:
    configured = True

    def __init__(self, host: str, port: int = 587, username: str = "", password: str = "",
                 security: str = "starttls", sender: str = "", timeout: float = 10.0) -> None:
        if security not in SECURITY:
            raise ValueError(f"ACCOUNTS_SYNC_SMTP_SECURITY must be one of {', '.join(SECURITY)}, "
                             f"not '{security}'.")
        self.host = host
        self.port = int(port)
        self.username = username
        self._password = password
        self.security = security
        self.sender = sender or f"Accounts Sync <accounts-sync@{socket.getfqdn() or 'localhost'}>"
        self.timeout = float(timeout)

    def __repr__(self) -> str:  # never show the password
        return f"SmtpNotifier({self.host}:{self.port}, {self.security})"

    def message(self, to: Sequence[str], subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = ", ".join(to)
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=True)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2].strip("> ") or None)
        message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no auto-replies, please
        message.set_content(body)
        return message

    def send(self, to: Sequence[str], subject: str, body: str) -> None:
        message = self.message(to, subject, body)
        where = f"{self.host}:{self.port}"
        try:
            context = ssl.create_default_context()
            if self.security == "ssl":
                server: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                        context=context)
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                if self.security == "starttls":
                    server.starttls(context=context)
                if self.username:
                    server.login(self.username, self._password)
                refused = server.send_message(message)
        except smtplib.SMTPAuthenticationError:
            raise NotificationFailed(f"The mail server {where} refused the user name or password "
                                     f"(ACCOUNTS_SYNC_SMTP_USERNAME / _PASSWORD).") from None
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotificationFailed(f"The mail server {where} refused every address: "
                                     f"{', '.join(exc.recipients)}.") from None
        except smtplib.SMTPNotSupportedError:
            raise NotificationFailed(f"The mail server {where} does not offer STARTTLS; set "
                                     f"ACCOUNTS_SYNC_SMTP_SECURITY to ssl (port 465) or none.") from None
        except smtplib.SMTPException as exc:
            raise NotificationFailed(f"The mail server {where} refused the message "
                                     f"({_reason(exc)}).") from None
        except ssl.SSLError as exc:
            raise NotificationFailed(f"The secure connection to the mail server {where} failed "
                                     f"({exc.reason or type(exc).__name__}).") from None
        except TimeoutError:
            raise NotificationFailed(f"The mail server {where} did not answer within "
                                     f"{self.timeout:g} seconds.") from None
        except OSError as exc:
            raise NotificationFailed(f"The mail server {where} could not be reached "
                                     f"({exc.strerror or type(exc).__name__}).") from None
        if refused:
            log.warning("mail server refused some addresses: %s", ", ".join(refused))
        log.info("alert emailed to %d address(es): %s", len(to), subject)


def _reason(exc: smtplib.SMTPException) -> str:
    code = getattr(exc, "smtp_code", None)
    text = getattr(exc, "smtp_error", b"")
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return f"{code} {text}".strip() if code else type(exc).__name__


class NoNotifier:
    """No mail server configured: alerts stay on the console."""

    configured = False

    def send(self, to: Sequence[str], subject: str, body: str) -> None:
        raise NotificationFailed("Email is not set up for Accounts Sync (ACCOUNTS_SYNC_SMTP_HOST).")
