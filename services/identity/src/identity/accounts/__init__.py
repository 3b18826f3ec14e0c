"""Accounts: who may sign in, with which roles; passwords, two-factor, not-before, expiry."""
