"""deploy/k8s as a platform team applies it: rendered as `kubectl apply -k` with an overlay
would (a namespace, the image by digest), then checked with kubernetes-validate and checkov.

Also what the linters cannot know: no Secret is applied over the operator's, the HPA alone owns
the replica count and stays within what one Redis serves, and the NetworkPolicies open only the
paths docs/deploy.md names.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kubernetes_validate
import pytest
import yaml

from service.runtime.settings import ENV_VARS, Settings, SettingsError
from tests.noskip import unavailable
from tests.test_deploy import K8S, _docs, _kube_versions

NAMESPACE = "cognito"
DIGEST = "sha256:" + "0" * 64
# docs/performance.md: one worker's warm GetDevice rate and the Redis ceiling for its script.
WORKER_RATE_PER_S = 17_580
REDIS_CEILING_PER_S = 30_000


def render() -> list[dict[str, Any]]:
    """The kustomization's resources, as an overlay setting namespace and digest renders them."""
    (kustomization,) = _docs(K8S / "kustomization.yaml")
    images = {i["name"]: i for i in kustomization.get("images", [])}
    out = []
    for name in kustomization["resources"]:
        for doc in _docs(K8S / name):
            doc["metadata"]["namespace"] = NAMESPACE
            pod = doc.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                image = images.get(container["image"].split(":")[0])
                if image:
                    container["image"] = f"{image['newName']}@{DIGEST}"
            out.append(doc)
    return out


def _one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return found


def _checkov() -> str:
    """checkov from its own venv (scripts/test makes it: requirements/checkov.txt), or PATH."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    own = cache / "cgd-checkov" / "bin" / "checkov"
    found = str(own) if os.access(own, os.X_OK) else shutil.which("checkov")
    if found is None:
        unavailable(f"checkov is not installed ({own}: see scripts/test)")
    return found


def test_rendered_manifests_pass_kubernetes_validate_and_checkov(tmp_path: Path) -> None:
    docs = render()
    for version in _kube_versions():
        for doc in docs:
            kubernetes_validate.validate(doc, version, strict=True)
    (tmp_path / "rendered.yaml").write_text(yaml.safe_dump_all(docs))
    checkov = [_checkov(), "-d", str(tmp_path), "--framework", "kubernetes", "--skip-download"]
    result = subprocess.run(
        [*checkov, "--quiet", "--compact", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [(c["check_id"], c["resource"]) for c in report["results"].get("failed_checks", [])]
    assert (summary["failed"], failed) == (0, []), result.stdout[-3000:]
    assert summary["passed"] >= 50, summary
    # Each skip is one the Deployment's annotations justify, not a silent one.
    skipped = {c["check_id"] for c in report["results"].get("skipped_checks", [])}
    assert skipped <= {"CKV_K8S_15", "CKV_K8S_35"}, skipped


def test_no_secret_is_applied_and_the_example_cannot_run() -> None:
    docs = render()
    assert not [d for d in docs if d["kind"] == "Secret"]
    (container,) = _one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    secret_refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
    (example,) = _docs(K8S / "secret.example.yaml")
    assert secret_refs == [example["metadata"]["name"]]
    values = example["stringData"]
    assert set(values) == {"REDIS_URL", "ADMIN_CREDENTIALS"} <= set(ENV_VARS.values())
    config = _one(docs, "ConfigMap")["data"]
    assert not set(config) & set(values), "a secret in the ConfigMap"
    # The placeholders are refused: applied by mistake, the pod stops instead of serving with a
    # committed credential.
    with pytest.raises(SettingsError, match="ADMIN_CREDENTIALS"):
        Settings.from_env({**config, **values})
    Settings.from_env(
        {**config, "REDIS_URL": "rediss://u:p@redis:6380/0", "ADMIN_CREDENTIALS": "a:b"}
    )


def test_the_hpa_alone_sizes_the_deployment_within_one_redis() -> None:
    docs = render()
    deployment, hpa = _one(docs, "Deployment"), _one(docs, "HorizontalPodAutoscaler")
    assert "replicas" not in deployment["spec"]
    settings = Settings.from_env(_one(docs, "ConfigMap")["data"])
    # About two workers reach Redis's ceiling; one pod more than that, for sign-ins and churn.
    redis_workers = math.ceil(REDIS_CEILING_PER_S / WORKER_RATE_PER_S)
    assert hpa["spec"]["maxReplicas"] * settings.workers <= redis_workers + 1
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


def test_network_policies_open_only_the_named_paths() -> None:
    docs = render()
    pod_labels = _one(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    port = _one(docs, "Service")["spec"]["ports"][0]
    api = _one(docs, "NetworkPolicy", "cognito-device-api")
    assert api["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert api["spec"]["policyTypes"] == ["Ingress"]
    peers = {}
    for rule in api["spec"]["ingress"]:
        assert [p["port"] for p in rule["ports"]] == [9229]
        (peer,) = rule["from"]
        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        peers[namespace] = peer.get("podSelector")
    assert peers == {
        "ingress-nginx": {"matchLabels": {"app.kubernetes.io/name": "ingress-nginx"}},
        "monitoring": None,
    }
    assert port["port"] == 9229
    redis = _one(docs, "NetworkPolicy", "cognito-device-api-redis")
    (rule,) = redis["spec"]["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}  # this namespace, these pods: nothing else
    assert peer["podSelector"]["matchLabels"].items() <= pod_labels.items()
