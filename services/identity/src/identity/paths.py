"""The addresses of identity's own pages (served through the gateway, on the public base URL)."""

from __future__ import annotations

INVITATION_PAGE = "/account/invitation"
RESET_REQUEST_PAGE = "/account/reset"
RESET_CODE_PAGE = "/account/reset/code"
