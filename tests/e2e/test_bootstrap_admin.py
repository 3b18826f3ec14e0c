"""`python3 manage.py run` with the operator's BOOTSTRAP_ADMIN_* (CONTRACT.md, "Identity and tokens").

The run command's own platform (scripts/launcher.py: SQLite under a var directory, real processes,
the demo seeded) is started with the variables set; the operator then signs in as that administrator
with that password and a code from that secret, and the kept credentials do not repeat them. A value
identity could not use stops the command before anything starts, with the reason.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pyotp
import pytest

from identity.accounts.bootstrap import BootstrapError
from scripts import demo, launcher
from servicekit.platform import PlatformRunner
from servicekit.testing import free_port

pytestmark = pytest.mark.processes

PASSWORD = "correct horse battery staple 42"
SEED = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
OPERATOR = {
    "BOOTSTRAP_ADMIN_USERNAME": "ops-admin",
    "BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
    # As an authenticator app shows it: lower case, in groups of four.
    "BOOTSTRAP_ADMIN_TOTP_SECRET": "jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp",
}


def test_the_run_command_creates_the_operators_administrator(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("identity", "incidents", "devices", "media_consent", "gateway")}
    runner: PlatformRunner = launcher.make_runner(OPERATOR, var_dir=tmp_path / "var", ports=ports)
    try:
        runner.migrate()
        runner.start()
        path = demo.seed(runner, hidden=launcher.operator_supplied(OPERATOR))
        gateway = httpx.Client(base_url=runner.url("gateway"), timeout=30)
        # The seeding signed in with this 30-second code; a code is accepted once, so use the next one.
        form = {
            "grant_type": "password",
            "username": "ops-admin",
            "password": PASSWORD,
            "otp": pyotp.TOTP(SEED).at(time.time() + 30),
        }
        token = gateway.post("/oauth/token", data=form)
        assert token.status_code == 200, token.text
        schools = gateway.get(
            "/v1/identity/schools", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert schools.status_code == 200, schools.text
        assert "Star Primary School" in [s["name"] for s in schools.json()["items"]]
        # Nothing the operator supplied is written back: not the password, not the secret.
        kept = path.read_text() + (tmp_path / "var" / "platform-secrets.json").read_text()
        assert PASSWORD not in kept
        assert SEED not in kept and SEED.lower() not in kept
        assert "Platform admin: ops-admin / (your BOOTSTRAP_ADMIN_PASSWORD)" in path.read_text()
        gateway.close()
    finally:
        runner.stop()


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("BOOTSTRAP_ADMIN_PASSWORD", "iloveyou", "BOOTSTRAP_ADMIN_PASSWORD breaks the password policy"),
        ("BOOTSTRAP_ADMIN_PASSWORD", "short", "BOOTSTRAP_ADMIN_PASSWORD breaks the password policy"),
        ("BOOTSTRAP_ADMIN_TOTP_SECRET", "not base32: 0189!", "BOOTSTRAP_ADMIN_TOTP_SECRET must be base32"),
        ("BOOTSTRAP_ADMIN_TOTP_SECRET", "JBSWY3DP", "BOOTSTRAP_ADMIN_TOTP_SECRET must be base32"),
        ("BOOTSTRAP_ADMIN_USERNAME", " ", "BOOTSTRAP_ADMIN_USERNAME is empty"),
    ],
)
def test_a_bad_bootstrap_value_stops_the_run_command(
    name: str,
    value: str,
    reason: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(BootstrapError, match=reason):
        launcher.make_runner({name: value}, var_dir=tmp_path / "checked")

    # `manage.py run` itself: the reason on stderr, exit 2, and nothing started.
    def must_not_start(_runner: PlatformRunner) -> None:
        raise AssertionError("the platform was started with a bad BOOTSTRAP_ADMIN_* value")

    monkeypatch.setattr(launcher, "VAR", tmp_path / "var")
    monkeypatch.setattr(PlatformRunner, "start", must_not_start)
    monkeypatch.setattr(PlatformRunner, "migrate", must_not_start)
    monkeypatch.setenv(name, value)
    assert launcher.main("run", []) == 2
    err = capsys.readouterr().err
    assert reason in err
    if value.strip():
        assert value not in err, "the value itself is not echoed"
