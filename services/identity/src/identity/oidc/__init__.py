"""OpenID Connect provider: authorization, the sign-in pages, browser sessions, id_token, userinfo, logout."""
