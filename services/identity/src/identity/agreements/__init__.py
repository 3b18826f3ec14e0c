"""Acceptable-use agreements: versioned texts per audience and who has signed the current one."""
