"""infra/k8s (no cluster here, so checked by rendering): every overlay renders, every object is valid
against the Kubernetes schemas (kubernetes-validate ships them; nothing is fetched), and the
manifests agree with platform.toml: images, ports, probes, environment, routes, for each service
and for the console. The security rules are checked as attacks would meet them: only the gateway
is reachable from outside, each service only from the gateway (identity also from the services that
follow its feed), the console only from the gateway, no container runs as root or can write its
root filesystem, and no Secret carries a usable value."""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from scripts.kustomize import KustomizeError, merge, render

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "infra" / "k8s"
PLATFORM = tomllib.loads((ROOT / "platform.toml").read_text())
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
# The oldest Kubernetes the manifests are written for (policy/v1 PDBs, batch/v1 Jobs with a TTL).
KUBERNETES_VERSION = "1.30.0"
SERVICES = PLATFORM["services"]
CONSOLE = PLATFORM["console"]


def kname(name: str) -> str:
    return name.replace("_", "-")


def rendered(overlay: str) -> list[dict[str, Any]]:
    return render(K8S / "overlays" / overlay)


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, (kind, name, len(matches))
    return matches[0]


def container(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    pod = find(objects, kind, name)["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    return pod["containers"][0]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def test_there_is_a_school_and_an_la_overlay() -> None:
    assert OVERLAYS == ["la", "school"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_against_the_kubernetes_schemas(overlay: str) -> None:
    objects = rendered(overlay)
    assert len(objects) > 20
    for obj in objects:
        # strict: a misspelt or misplaced field is an error, not silently dropped by the API server
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == f"esafety-{overlay}"


def test_an_invalid_object_is_caught() -> None:
    """The validation really checks: a probe with a misspelt field and a string replica count fail."""
    deployment = find(rendered("school"), "Deployment", "identity")
    broken = merge(deployment, {"spec": {"replicas": "two"}})
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    probe = merge(deployment, {"spec": {"template": {"spec": {"containers": [
        {"name": "identity", "readinessProbe": {"httpGet": {"pth": "/readyz", "port": "http"}}}
    ]}}}})  # fmt: skip
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(probe, KUBERNETES_VERSION, strict=True)


def test_the_renderer_refuses_what_it_does_not_understand(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(tmp_path)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_renderer_agrees_with_kubectl_kustomize(overlay: str) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout

    def key(o: dict[str, Any]) -> tuple[str, str]:
        return o["kind"], o["metadata"]["name"]

    theirs = {key(o): o for o in yaml.safe_load_all(out) if o}
    ours = {key(o): o for o in rendered(overlay)}
    assert ours == theirs


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s["name"])
def test_each_service_matches_platform_toml(overlay: str, service: dict[str, Any]) -> None:
    objects = rendered(overlay)
    name, port, prefix = kname(service["name"]), service["port"], service["env_prefix"]
    c = container(objects, "Deployment", name)
    assert c["image"].split(":")[0] == f"esafety/{name}"
    assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = env_of(c)
    assert env["PORT"] == str(port)
    assert env[f"{prefix}DATABASE_URL"] == {
        "secretKeyRef": {"name": f"{name}-secrets", "key": f"{prefix}DATABASE_URL"}
    }
    assert {"configMapRef": {"name": "platform-config"}} in c["envFrom"]
    if service["name"] != "identity":
        assert env[f"{prefix}FEED_CLIENT_ID"] == f"{service['name']}-feed"
        assert f"{prefix}FEED_CLIENT_SECRET" in env
    # Every variable a service reads is one of its own (its prefix), or the platform's.
    for variable in env:
        assert variable.startswith((prefix, "PLATFORM_", "BOOTSTRAP_ADMIN_")) or variable == "PORT", variable
    svc = find(objects, "Service", name)
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": name}
    secret = find(objects, "Secret", f"{name}-secrets")
    assert f"{prefix}DATABASE_URL" in secret["stringData"]


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s["name"])
def test_migrations_are_a_job_of_their_own(overlay: str, service: dict[str, Any]) -> None:
    objects = rendered(overlay)
    name, prefix = kname(service["name"]), service["env_prefix"]
    job = find(objects, "Job", f"{name}-migrate")
    c = container(objects, "Job", f"{name}-migrate")
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert c["command"] == ["alembic", "-c", f"{service['dir']}/alembic.ini", "upgrade", "heads"]
    assert (ROOT / service["dir"] / "alembic.ini").is_file()
    assert set(env_of(c)) == {f"{prefix}DATABASE_URL"}
    assert "alembic" not in json.dumps(container(objects, "Deployment", name))


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_gateway_routes_to_every_service(overlay: str) -> None:
    objects = rendered(overlay)
    c = container(objects, "Deployment", "gateway")
    port = PLATFORM["gateway"]["port"]
    assert c["image"].split(":")[0] == "esafety/gateway"
    assert c["ports"][0]["containerPort"] == port
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/livez"
    env = env_of(c)
    assert env["PORT"] == str(port)
    upstreams = json.loads(env["GATEWAY_UPSTREAMS"])
    assert upstreams == [
        {"name": s["name"], "url": f"http://{kname(s['name'])}:{s['port']}", "prefixes": s["prefixes"]}
        for s in SERVICES
    ] + [
        {
            "name": CONSOLE["name"],
            "url": f"http://{kname(CONSOLE['name'])}:{CONSOLE['port']}",
            "prefixes": CONSOLE["prefixes"],
            "signs_in_itself": True,
        }
    ]
    # The gateway is the edge: it believes no client's X-Forwarded-For unless the operator lists a balancer.
    assert env["PLATFORM_TRUSTED_PROXIES"] == ""
    assert env["UVICORN_PROXY_HEADERS"] == "false"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_matches_platform_toml(overlay: str) -> None:
    """Its image, port and probes; the API through the gateway's Service; its sessions in Redis,
    sealed with a key from its Secret, with the OAuth client's secret beside it."""
    objects = rendered(overlay)
    name, port, prefix = kname(CONSOLE["name"]), CONSOLE["port"], CONSOLE["env_prefix"]
    c = container(objects, "Deployment", name)
    assert c["image"].split(":")[0] == f"esafety/{name}"
    assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert c["livenessProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/livez", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = env_of(c)
    assert env["PORT"] == str(port)
    assert env[f"{prefix}GATEWAY_URL"] == f"http://gateway:{PLATFORM['gateway']['port']}"
    assert {"configMapRef": {"name": "platform-config"}} in c["envFrom"]
    for variable in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "REDIS_URL", "SESSION_KEY"):
        key = prefix + variable
        assert env[key] == {"secretKeyRef": {"name": f"{name}-secrets", "key": key}}, key
    for variable in env:
        assert variable.startswith((prefix, "PLATFORM_")) or variable == "PORT", variable
    secret = find(objects, "Secret", f"{name}-secrets")
    assert set(secret["stringData"]) == {
        f"{prefix}{v}" for v in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "REDIS_URL", "SESSION_KEY")
    }
    assert secret["stringData"][f"{prefix}REDIS_URL"].startswith("redis://")
    svc = find(objects, "Service", name)
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": name}
    # The console has no database: no migration Job, no database URL.
    assert not [o for o in objects if o["kind"] == "Job" and o["metadata"]["name"].startswith(name)]
    assert not any("DATABASE_URL" in v for v in env)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_console_refuses_to_start_with_the_placeholder_secrets(
    overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The environment the Deployment gives the console (the ConfigMap and its Secret, as written in
    the repository) makes ConsoleSettings refuse: a deployment that forgot to set them does not run."""
    from console.config import ConsoleSettings
    from console.sessions import new_key

    objects = rendered(overlay)
    name = kname(CONSOLE["name"])
    values = dict(find(objects, "ConfigMap", "platform-config")["data"])
    secret = find(objects, "Secret", f"{name}-secrets")["stringData"]
    for variable, value in env_of(container(objects, "Deployment", name)).items():
        values[variable] = secret[value["secretKeyRef"]["key"]] if isinstance(value, dict) else value
    assert values["ENVIRONMENT"] == "production"
    for variable, value in values.items():
        monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match="placeholder"):
        ConsoleSettings()
    # With the two secrets set, the same environment is a working console: sessions in Redis.
    monkeypatch.setenv("CONSOLE_OIDC_CLIENT_SECRET", "a-real-secret-from-identity")
    monkeypatch.setenv("CONSOLE_SESSION_KEY", new_key())
    settings = ConsoleSettings()
    assert settings.redis_url.get_secret_value() == secret["CONSOLE_REDIS_URL"]
    assert settings.cookies_secure and settings.gateway_url == "http://gateway:8000"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_runs_unprivileged_on_a_read_only_root(overlay: str) -> None:
    """Attack: a compromised process cannot become root, gain a capability, or change the image's files."""
    pods = [o for o in rendered(overlay) if o["kind"] in ("Deployment", "Job")]
    assert len(pods) == 2 * len(SERVICES) + 2  # a Deployment and a Job per service; gateway; console
    for obj in pods:
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] != 0
        assert pod["automountServiceAccountToken"] is False
        for c in pod["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "privileged" not in sc
            requests = c["resources"]["requests"]
            assert requests["cpu"] and requests["memory"]
            assert c["resources"]["limits"]["memory"]
            # Writable places are volumes: /tmp and, for the key stores, their claim.
            mounts = {m["mountPath"] for m in c.get("volumeMounts", [])}
            assert "/tmp" in mounts


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_deployment_has_a_disruption_budget(overlay: str) -> None:
    objects = rendered(overlay)
    for deployment in [o for o in objects if o["kind"] == "Deployment"]:
        name = deployment["metadata"]["name"]
        pdb = find(objects, "PodDisruptionBudget", name)
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        assert pdb["spec"]["maxUnavailable"] == 1


def test_the_la_runs_several_replicas_of_everything() -> None:
    for deployment in [o for o in rendered("la") if o["kind"] == "Deployment"]:
        assert deployment["spec"]["replicas"] >= 2, deployment["metadata"]["name"]
    for deployment in [o for o in rendered("school") if o["kind"] == "Deployment"]:
        assert deployment["spec"]["replicas"] == 1


def _labels_of(objects: list[dict[str, Any]], name: str) -> dict[str, str]:
    labels: dict[str, str] = find(objects, "Deployment", name)["spec"]["template"]["metadata"]["labels"]
    return labels


def _allowed(objects: list[dict[str, Any]], source: dict[str, str] | None, target: str, port: int) -> bool:
    """Whether NetworkPolicies let a pod with labels `source` (None: outside the namespace) reach
    the pods of Deployment `target` on `port` (ingress policies; a pod no policy selects is open)."""
    target_labels = _labels_of(objects, target)
    policies = [
        o
        for o in objects
        if o["kind"] == "NetworkPolicy"
        and "Ingress" in o["spec"]["policyTypes"]
        and all(target_labels.get(k) == v for k, v in o["spec"]["podSelector"].get("matchLabels", {}).items())
    ]
    if not policies:
        return True
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            ports = [p["port"] for p in rule.get("ports", [])]
            if ports and port not in ports:
                continue
            peers = rule.get("from")
            if peers is None:
                return True
            for peer in peers:
                assert set(peer) == {"podSelector"}, "only pod selectors in this namespace are used"
                wanted = peer["podSelector"].get("matchLabels", {})
                if source is not None and all(source.get(k) == v for k, v in wanted.items()):
                    return True
    return False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_only_the_gateway_is_reachable_from_outside(overlay: str) -> None:
    """Attack: a client going round the gateway (no edge token check, no rate limit) reaches no service;
    a service cannot reach another service's pods either, only identity (its feed and keys)."""
    objects = rendered(overlay)
    gateway = PLATFORM["gateway"]["port"]
    assert _allowed(objects, None, "gateway", gateway)
    assert not _allowed(objects, None, "gateway", 9999)
    for service in SERVICES:
        name, port = kname(service["name"]), service["port"]
        assert not _allowed(objects, None, name, port), name
        assert _allowed(objects, _labels_of(objects, "gateway"), name, port), name
        for other in SERVICES:
            if other is service:
                continue
            reachable = _allowed(objects, _labels_of(objects, kname(other["name"])), name, port)
            assert reachable == (service["name"] == "identity"), (other["name"], name)
    # The console: its pages only through the gateway (its CSP, its rate limits), from no service.
    console, port = kname(CONSOLE["name"]), CONSOLE["port"]
    assert not _allowed(objects, None, console, port)
    assert _allowed(objects, _labels_of(objects, "gateway"), console, port)
    for service in SERVICES:
        assert not _allowed(objects, _labels_of(objects, kname(service["name"])), console, port)
        # ...and it reaches no service but through the gateway, with the person's own token.
        assert not _allowed(objects, _labels_of(objects, console), kname(service["name"]), service["port"])
    # A migration Job's pod (no ingress needed) is not let in anywhere but the gateway's public port.
    job = find(objects, "Job", "incidents-migrate")["spec"]["template"]["metadata"]["labels"]
    for service in SERVICES:
        assert not _allowed(objects, job, kname(service["name"]), service["port"])
    # Nothing is exposed outside the cluster but through the gateway's Service.
    for svc in [o for o in objects if o["kind"] == "Service"]:
        assert svc["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_holds_a_usable_value(overlay: str) -> None:
    """The Secrets in the repository are placeholders: a secret value starts with `dev-only-`, which every
    service refuses in production (servicekit.settings), so a deployment that forgot one fails to start."""
    for secret in [o for o in rendered(overlay) if o["kind"] == "Secret"]:
        for key, value in secret["stringData"].items():
            if key.endswith(("SECRET", "PASSWORD", "_KEY")):
                assert value.startswith("dev-only-"), (secret["metadata"]["name"], key)
            if key.endswith("DATABASE_URL"):
                assert "dev-only-" in value
    for obj in rendered(overlay):
        for pod in [obj["spec"]["template"]["spec"]] if obj["kind"] in ("Deployment", "Job") else []:
            for c in pod["containers"]:
                for variable, value in env_of(c).items():
                    if variable.endswith(("SECRET", "PASSWORD", "_KEY", "DATABASE_URL", "REDIS_URL")):
                        assert isinstance(value, dict) and "secretKeyRef" in value, variable
