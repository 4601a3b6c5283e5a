"""Sending one plain-text email through the operator's SMTP server (COPYDESK_SMTP_URL).

`smtp://[user:password@]host[:port]?from=address` (plain, port 25), `smtp+starttls://...` (STARTTLS, port
587) or `smtps://...` (TLS, port 465). Every connection has a timeout. Addresses and bodies are never logged.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import parse_qs, unquote, urlsplit

from plugin.errors import CopydeskError

PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class MailError(CopydeskError):
    """The SMTP URL is unusable, or the server refused the message."""


def parse_url(url: str) -> dict:
    parts = urlsplit(url)
    if parts.scheme not in PORTS or not parts.hostname:
        raise MailError("COPYDESK_SMTP_URL must look like smtp://host:port?from=address "
                        "(or smtp+starttls://, smtps://)")
    sender = (parse_qs(parts.query).get("from") or [""])[0]
    if "@" not in sender:
        raise MailError("COPYDESK_SMTP_URL needs ?from=address (the sender of answers)")
    return {"scheme": parts.scheme, "host": parts.hostname, "port": parts.port or PORTS[parts.scheme],
            "user": unquote(parts.username or ""), "password": unquote(parts.password or ""), "sender": sender}


def send(url: str, to: str, subject: str, body: str, *, timeout: float = 10.0, reply_to: str = "") -> str:
    """Send one message; returns its Message-ID. Raises MailError when it cannot be sent."""
    conf = parse_url(url)
    message = EmailMessage()
    message["From"] = conf["sender"]
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=conf["sender"].rsplit("@", 1)[1])
    if reply_to:
        message["Reply-To"] = reply_to
    message.set_content(body)
    tls = ssl.create_default_context()  # verify the server's certificate (smtplib's default does not)
    try:
        if conf["scheme"] == "smtps":
            client = smtplib.SMTP_SSL(conf["host"], conf["port"], timeout=timeout, context=tls)
        else:
            client = smtplib.SMTP(conf["host"], conf["port"], timeout=timeout)
        with client:
            if conf["scheme"] == "smtp+starttls":
                client.starttls(context=tls)
            if conf["user"]:
                client.login(conf["user"], conf["password"])
            client.send_message(message)
    except (smtplib.SMTPException, OSError) as err:
        raise MailError(f"the SMTP server did not take the message ({type(err).__name__})") from err
    return str(message["Message-ID"])
