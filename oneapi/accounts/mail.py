"""Mail over SMTP with aiosmtplib, configured by the SMTP* options (SPEC §8.3).

Port 465 speaks TLS from the first byte; any other port upgrades with STARTTLS when the server offers it,
and logs in when an account is set. Certificates are verified (One API skips that on 465): a relay with a
private CA is trusted through SMTP_CA_FILE. Every failure becomes a ``MailError`` whose message says what
went wrong, for the caller to show.
"""

from __future__ import annotations

import logging
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from oneapi.state import AppState

logger = logging.getLogger(__name__)

MAIL_TIMEOUT = 15  # seconds for the whole conversation: connect, TLS, AUTH, DATA


class MailError(Exception):
    """A message could not be sent; ``str()`` is the reason, fit for the user."""


def mail_configured(state: AppState) -> bool:
    return bool(state.options.get("SMTPServer"))


def build_message(state: AppState, to: str, subject: str, html: str) -> EmailMessage:
    options = state.options
    sender = options.get("SMTPFrom") or options.get("SMTPAccount")
    message = EmailMessage()
    message["From"] = formataddr((options.get("SystemName") or "One API", sender))
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(html, subtype="html", charset="utf-8")
    return message


async def send_mail(state: AppState, to: str, subject: str, html: str) -> None:
    """Send one HTML mail; raises MailError (never anything else) when it cannot be delivered."""
    options = state.options
    server = options.get("SMTPServer")
    if not server:
        raise MailError("SMTP 服务器未配置")
    port = options.int("SMTPPort", 587) or 587
    account, password = options.get("SMTPAccount"), options.get("SMTPToken")
    import aiosmtplib  # at the first mail, not at start-up

    try:
        await aiosmtplib.send(
            build_message(state, to, subject, html), hostname=server, port=port,
            username=account or None, password=password or None if account else None,
            use_tls=port == 465, start_tls=None if port != 465 else False, timeout=MAIL_TIMEOUT,
            cert_bundle=state.settings.smtp_ca_file or None,
        )
    except aiosmtplib.SMTPAuthenticationError as exc:
        raise MailError(f"SMTP 认证失败：{exc.message}") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise MailError(f"SMTP 服务器拒绝了邮件：{exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        reason = str(exc) or type(exc).__name__
        raise MailError(f"无法通过 SMTP 服务器 {server}:{port} 发送邮件：{reason}") from None
    logger.info("mail %r sent to %s", subject, to)


async def send_logged(state: AppState, to: str, subject: str, html: str) -> bool:
    """Send a notification in the background: a failure is logged, not raised."""
    try:
        await send_mail(state, to, subject, html)
    except MailError as exc:
        logger.warning("mail %r to %s not sent: %s", subject, to, exc)
        return False
    return True
