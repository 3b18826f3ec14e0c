"""Identity's signing keys: the key store on disk, rotation, the JWKS and the server metadata."""
