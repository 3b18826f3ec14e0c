"""The addresses of identity's own account pages (under /oauth, which the gateway routes to identity;
`/oauth/account/*` is public in the gateway's `DEFAULT_PUBLIC_PATHS`)."""

from __future__ import annotations

INVITATION_PAGE = "/oauth/account/invitation"
RESET_REQUEST_PAGE = "/oauth/account/reset"
RESET_CODE_PAGE = "/oauth/account/reset/code"
