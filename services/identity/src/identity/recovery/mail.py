"""The reset code's e-mail: the code and the page's address, nothing else (no name, no child, no
school), sent over SMTP (servicekit.mail) after the page has answered, so the answer neither waits
for the relay nor tells by its timing whether an account matched.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from identity.recovery.service import EmailedCode
from servicekit.mail import MailError, SmtpSettings, send_mail

log = logging.getLogger("identity.recovery.mail")

SUBJECT = "Your password reset code"


def reset_text(code: EmailedCode, page_url: str) -> str:
    when = code.expires_at.strftime("%H:%M UTC on %d %B %Y")
    return (
        "Someone asked to reset the password of your school account.\n\n"
        f"Your code: {code.code}\n\n"
        f"Enter it at {page_url} to choose a new password. It works once, until {when}.\n\n"
        "If you did not ask for this, ignore this e-mail: your password stays as it is.\n"
    )


async def send_reset_codes(smtp: SmtpSettings, codes: Sequence[EmailedCode], page_url: str) -> None:
    """Send each code to its address; a failure is logged (the holder can ask again, or the office)."""
    for code in codes:
        try:
            await send_mail(smtp, to=code.email, subject=SUBJECT, text=reset_text(code, page_url))
        except (MailError, ValueError) as exc:
            log.warning("reset code e-mail not sent: %s", type(exc).__name__)
