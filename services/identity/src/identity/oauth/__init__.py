"""OAuth 2 token endpoint (RFC 6749), revocation (RFC 7009) and refresh-token sessions."""
