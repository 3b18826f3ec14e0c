"""The README's roles → scopes table is the one in identity/roles.py, not a stale copy."""

from __future__ import annotations

import re
from pathlib import Path

from identity.roles import ROLE_SCOPES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_readme_roles_table_matches_the_code() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| (.*) \|$", README, flags=re.MULTILINE))
    assert set(rows) == set(ROLE_SCOPES)
    for role, scopes in ROLE_SCOPES.items():
        assert set(re.findall(r"`([^`]+)`", rows[role])) == scopes, role


def test_readme_names_the_two_commands() -> None:
    assert "python3 manage.py run" in README
    assert "python3 manage.py test" in README
