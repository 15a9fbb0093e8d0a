"""The server's own email (invitations, issue 18): through the SMTP server of
``AGENTFLOW_SMTP_URL`` or Amazon SES in ``AGENTFLOW_SES_REGION``, from
``AGENTFLOW_MAIL_FROM``. With neither set nothing is sent, as before mail existed.

The transport is the ``email.send`` node's (:mod:`agentflow_app.net.mail`), but no address
guard applies: the operator chose this server, and a relay on localhost or the private
network is the usual one. A failure never undoes what asked for the email: it is logged
with its reason and :func:`send` answers False, so the caller can say the email did not go
and show what it carried (an invitation's link) another way. Sending blocks, for at most
:data:`TIMEOUT_S` per connection; the callers are sync services, run in a thread.
"""

from __future__ import annotations

import logging
from urllib.parse import unquote, urlsplit

import botocore.exceptions
from pydantic import ValidationError

from agentflow_app.net import mail
from agentflow_app.secrets.kinds import SesKind, SmtpKind
from agentflow_app.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: How long one connection (or one SES call) may take before the email counts as not sent.
TIMEOUT_S = 10.0


def configured() -> bool:
    """Whether the server can send email (an SMTP URL or an SES region is set)."""
    settings = get_settings()
    return bool(settings.agentflow_smtp_url or settings.agentflow_ses_region)


def send(to: str, subject: str, text: str) -> bool:
    """Send a plain-text email to one address; True when the server or SES accepted it.

    False when no way to send is configured (silently) or when sending failed (logged as a
    warning with the reason; the recipient is named, the body never is, since it may carry
    a link that works on its own).
    """
    settings = get_settings()
    subject = " ".join(subject.split())
    via = "nothing"
    try:
        if settings.agentflow_smtp_url:
            server = _smtp_server(settings)
            via = f"the SMTP server {server.host}:{server.port}"
            message, _ = mail.compose(server.from_address, [to], subject, text)
            mail.deliver_smtp(server, [server.host], message, TIMEOUT_S)
        elif settings.agentflow_ses_region:
            sender = SesKind(
                region=settings.agentflow_ses_region, from_address=settings.agentflow_mail_from
            )
            via = f"Amazon SES in {sender.region}"
            mail.deliver_ses(sender, [to], subject, text, html=False, timeout=TIMEOUT_S)
        else:
            return False
    except ValidationError as exc:  # said without the input: it may be the password
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        log.warning("could not email %s: the mail settings are not usable: %s", to, problems)
        return False
    except (OSError, botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        # OSError covers smtplib's errors, TLS and refused or timed-out connections.
        log.warning("could not email %s through %s: %s", to, via, _reason(exc))
        return False
    log.info("emailed %r to %s through %s", subject, to, via)
    return True


def _smtp_server(settings: Settings) -> SmtpKind:
    """``AGENTFLOW_SMTP_URL`` as the SMTP credential model (validated by Settings already:
    scheme, host, port, the one ``starttls`` option)."""
    url = urlsplit(settings.agentflow_smtp_url.get_secret_value())
    if url.scheme == "smtps":
        tls, default_port = "ssl", 465
    elif url.query:  # ?starttls=true, the only option there is
        tls, default_port = "starttls", 587
    else:
        tls, default_port = "none", 25
    return SmtpKind(
        host=url.hostname,
        port=url.port or default_port,
        username=unquote(url.username) if url.username else None,
        password=unquote(url.password) if url.password else None,
        tls=tls,
        from_address=settings.agentflow_mail_from,
    )


def _reason(exc: Exception) -> str:
    smtp_error = getattr(exc, "smtp_error", None)
    if isinstance(smtp_error, bytes):  # an SMTP reply: its code and text
        return f"{exc.smtp_code} {smtp_error.decode(errors='replace')}"
    return f"{type(exc).__name__}: {exc}"
