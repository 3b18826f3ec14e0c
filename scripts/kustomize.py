"""Render a Kustomize folder (infra/k8s/overlays/*) without kubectl: the subset the platform uses.

    .venv/bin/python -m scripts.kustomize infra/k8s/overlays/la > la.yaml

Understood: `resources` (files, or folders holding a kustomization.yaml), `namespace`, `replicas`,
`images` (newName, newTag, digest) and `patches` given by `path` as strategic merge patches (maps
merge key by key; lists of named maps, such as containers and env, merge by `name`; other lists
are replaced). Any other field is an error, never silently ignored, so a manifest that needs more
is rendered with `kubectl kustomize` instead (tests/test_kubernetes.py checks both agree where
kubectl is installed).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

KNOWN = {"apiVersion", "kind", "resources", "namespace", "replicas", "images", "patches"}
# Kinds without a namespace (none in infra/k8s today; listed so `namespace` never sets one on them).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"}
Object = dict[str, Any]


class KustomizeError(ValueError):
    """A kustomization this renderer does not understand, or that refers to nothing."""


def _documents(path: Path) -> list[Object]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def merge(base: Any, patch: Any) -> Any:
    """Strategic merge of `patch` onto `base` (the part of it the platform's patches use)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for key, value in patch.items():
            out[key] = merge(base[key], value) if key in base else copy.deepcopy(value)
        return out
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in [*base, *patch])
    ):
        merged = [dict(item) for item in base]
        for item in patch:
            index = next((i for i, old in enumerate(merged) if old["name"] == item["name"]), None)
            if index is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[index] = merge(merged[index], item)
        return merged
    return copy.deepcopy(patch)


def _set_image(container: Object, images: list[Object]) -> None:
    reference = str(container.get("image", "")).split("@")[0]
    colon = reference.rfind(":")
    if colon > reference.rfind("/"):  # a tag, not a registry's port
        name, tag = reference[:colon], reference[colon + 1 :]
    else:
        name, tag = reference, ""
    for rule in images:
        if rule["name"] != name:
            continue
        new_name = rule.get("newName", name)
        if "digest" in rule:
            container["image"] = f"{new_name}@{rule['digest']}"
        else:
            new_tag = rule.get("newTag", tag)
            container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name


def _pod_specs(obj: Object) -> list[Object]:
    spec = obj.get("spec", {})
    if obj["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return [spec["template"]["spec"]]
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if obj["kind"] == "Pod":
        return [spec]
    return []


def render(folder: Path) -> list[Object]:
    """Every object the kustomization in `folder` produces, in the order they are listed."""
    folder = Path(folder)
    path = folder / "kustomization.yaml"
    if not path.is_file():
        raise KustomizeError(f"{folder}: no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text()) or {}
    unknown = set(kustomization) - KNOWN
    if unknown:
        raise KustomizeError(f"{path}: not understood here: {', '.join(sorted(unknown))}")
    objects: list[Object] = []
    for entry in kustomization.get("resources", []):
        target = (folder / entry).resolve()
        objects.extend(render(target) if target.is_dir() else _documents(target))
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{path}: a patch is given by `path` only here")
        for patch in _documents(folder / patch_entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            index = next(
                (i for i, o in enumerate(objects) if (o["kind"], o["metadata"]["name"]) == key), None
            )
            if index is None:
                raise KustomizeError(f"{path}: the patch for {key} matches nothing")
            objects[index] = merge(objects[index], patch)
    for rule in kustomization.get("replicas", []):
        matched = [
            o for o in objects if o["metadata"]["name"] == rule["name"] and "replicas" in o.get("spec", {})
        ]
        if not matched:
            raise KustomizeError(f"{path}: replicas for {rule['name']!r} match nothing")
        for obj in matched:
            obj["spec"]["replicas"] = int(rule["count"])
    images = kustomization.get("images", [])
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
                _set_image(container, images)
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    return objects


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m scripts.kustomize <folder with kustomization.yaml>", file=sys.stderr)
        return 2
    try:
        objects = render(Path(argv[0]))
    except KustomizeError as exc:
        print(f"kustomize: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
