"""The identity service's app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI

from identity.accounts.bootstrap import on_shutdown, on_startup
from identity.accounts.router import router as accounts_router
from identity.agreements.router import router as agreements_router
from identity.alert_contacts.router import internal as alert_contacts_internal
from identity.alert_contacts.router import router as alert_contacts_router
from identity.changes.router import router as changes_router
from identity.clients.router import router as clients_router
from identity.config import IdentitySettings
from identity.imports.router import router as imports_router
from identity.invitations.router import router as invitations_router
from identity.keys.router import router as keys_router
from identity.oauth.router import router as oauth_router
from identity.oidc.router import discovery_router
from identity.oidc.router import router as oidc_router
from identity.pages.account import router as account_pages_router
from identity.pages.router import router as pages_router
from identity.people.router import router as people_router
from identity.recovery.mail import reset_code_mailer
from identity.recovery.router import router as recovery_router
from identity.recovery.service import RESET_MAIL_TOPIC
from identity.schools.router import router as schools_router
from identity.security.state import SecurityState
from identity.security.tokens import StoredNotBeforeVerifier
from servicekit.app import create_service_app
from servicekit.audit import audit_router
from servicekit.auth import KeySource
from servicekit.clock import Clock, SystemClock
from servicekit.keystore import StoreKeySource
from servicekit.mail import SmtpSettings
from servicekit.migrations import service_dir_for

# Each domain adds its router here.
ROUTERS: list[APIRouter] = [
    schools_router,
    imports_router,  # before people: /people/imports is not a person id
    people_router,
    agreements_router,
    changes_router,
    oauth_router,
    pages_router,
    oidc_router,
    discovery_router,
    account_pages_router,
    keys_router,
    alert_contacts_router,  # before accounts: /users/me/... is not an account id
    accounts_router,
    recovery_router,
    invitations_router,
    alert_contacts_internal,
    clients_router,
    audit_router("/v1/identity/audit"),
]


def create_app(
    settings: IdentitySettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: KeySource | None = None,
) -> FastAPI:
    settings = settings or IdentitySettings()
    clock = clock or SystemClock()
    security = SecurityState.create(settings, clock)
    app = create_service_app(
        migrations_dir=service_dir_for(__file__),
        settings=settings,
        title="Identity",
        routers=ROUTERS,
        clock=clock,
        # Identity verifies tokens against its own key store, not over HTTP.
        key_source=key_source or StoreKeySource(security.keys),
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        # Reset codes' e-mails, delivered at least once from the outbox (recovery/mail.py).
        outbox_handlers={RESET_MAIL_TOPIC: reset_code_mailer},
    )
    security.not_before = app.state.not_before
    app.state.security = security
    # Reset codes are e-mailed when an SMTP relay is set (IDENTITY_SMTP_* or PLATFORM_SMTP_*).
    app.state.smtp = SmtpSettings.from_env("IDENTITY_")
    # Read when a token is checked: tests swap the sessionmaker after the app is made.
    app.state.verifier = StoredNotBeforeVerifier(app.state.verifier, lambda: app.state.sessionmaker)
    return app
