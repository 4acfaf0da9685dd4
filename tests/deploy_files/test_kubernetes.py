"""deploy/kubernetes: every manifest valid for Kubernetes (kubernetes-validate,
strict: no unknown field) from 1.29 to the newest schema it knows; the Deployment's
probes, port and arguments against the service's defaults and the image; its config
file loading as the service loads it; secrets only through the Secret; the security
context; graceful termination; the Service, the headless Service Prometheus scrapes,
and the PodDisruptionBudget selecting the Deployment's pods."""

import shlex

import pytest

from fugue_ppl.config import load_config

MANIFESTS = ("namespace.yaml", "configmap.yaml", "secret.yaml", "deployment.yaml",
             "service.yaml", "service-metrics.yaml", "poddisruptionbudget.yaml")
OLDEST = "1.29.0"


@pytest.fixture(scope="module")
def kv():
    return pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is in the "
                               '[test] extra: pip install ".[test]"')


@pytest.fixture(scope="module")
def manifests(deploy_dir, yaml):
    out = {}
    for name in MANIFESTS:
        docs = list(yaml.safe_load_all((deploy_dir / "kubernetes" / name).read_text("utf-8")))
        assert len(docs) == 1, name
        out[docs[0]["kind"]] = out.get(docs[0]["kind"], []) + [docs[0]]
    return out


@pytest.fixture(scope="module")
def deployment(manifests):
    (d,) = manifests["Deployment"]
    return d


@pytest.fixture(scope="module")
def container(deployment):
    (c,) = deployment["spec"]["template"]["spec"]["containers"]
    return c


def test_the_folder_holds_the_manifests_and_the_kustomization_lists_them(deploy_dir, yaml):
    folder = deploy_dir / "kubernetes"
    assert sorted(p.name for p in folder.glob("*.yaml")) == sorted(
        MANIFESTS + ("kustomization.yaml",))
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text("utf-8"))
    assert kustomization["kind"] == "Kustomization"
    assert kustomization["resources"] == list(MANIFESTS)    # the namespace first


@pytest.mark.parametrize("version", [OLDEST, "latest"])
def test_every_manifest_is_valid_strictly(kv, manifests, version):
    version = kv.latest_version() if version == "latest" else version
    for kind, docs in manifests.items():
        for doc in docs:
            # raises ValidationError naming the field for an unknown or mistyped one
            kv.validate(doc, version, strict=True)
            assert doc["metadata"].get("namespace", "fugue") == "fugue", kind


def test_strict_validation_refuses_a_misspelt_field(kv, deployment):
    # The control: strict validation sees a field Kubernetes would silently drop.
    import copy

    bad = copy.deepcopy(deployment)
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kv.ValidationError, match="httpGett"):
        kv.validate(bad, kv.latest_version(), strict=True)


def test_three_replicas_rolling_one_at_a_time(deployment):
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    labels = spec["template"]["metadata"]["labels"]
    assert all(labels[k] == v for k, v in spec["selector"]["matchLabels"].items())


def test_the_probes_hit_the_service_routes_on_its_port(container, service_defaults):
    (port,) = container["ports"]
    assert port == {"name": "http", "containerPort": service_defaults["port"], "protocol": "TCP"}
    probes = {k: container[k]["httpGet"] for k in ("startupProbe", "livenessProbe",
                                                    "readinessProbe")}
    assert probes["startupProbe"] == probes["livenessProbe"] == {
        "path": service_defaults["liveness"], "port": "http"}
    assert probes["readinessProbe"] == {"path": service_defaults["readiness"], "port": "http"}
    assert {service_defaults["liveness"], service_defaults["readiness"]} <= \
        service_defaults["routes"]
    # the startup probe allows a minute; liveness acts only after it
    s = container["startupProbe"]
    assert s["periodSeconds"] * s["failureThreshold"] >= 60
    r = container["readinessProbe"]
    assert r["periodSeconds"] * r["failureThreshold"] <= 15     # out of the Service quickly


def test_the_arguments_serve_the_mounted_config_on_the_port(container, deployment, manifests,
                                                            service_defaults, dockerfile):
    import json

    args = container["args"]
    (entrypoint,) = [v for i, v in dockerfile["stages"]["runtime"] if i == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["fugue-ppl"] and "command" not in container
    assert args[:5] == ["serve", "--host", "0.0.0.0", "--port", str(service_defaults["port"])]
    config_path = args[args.index("--config") + 1]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    (mount,) = [m for m in mounts.values() if config_path.startswith(m["mountPath"] + "/")]
    assert mount["readOnly"] is True
    (cm,) = manifests["ConfigMap"]
    assert volumes[mount["name"]]["configMap"]["name"] == cm["metadata"]["name"]
    assert config_path.rsplit("/", 1)[1] in cm["data"]


def test_the_config_file_loads_as_the_service_loads_it(manifests, tmp_path):
    (cm,) = manifests["ConfigMap"]
    path = tmp_path / "config.toml"
    path.write_text(cm["data"]["config.toml"], encoding="utf-8")
    cfg = load_config(path, env={})
    assert cfg.environment == "production"
    assert cfg.slo.availability_target == 0.999 and cfg.slo.period_days == 30
    assert "url" not in cm["data"]["config.toml"] and "api_keys" not in cm["data"]["config.toml"]


def test_the_secrets_reach_the_service_as_its_environment_variables(container, manifests,
                                                                    tmp_path):
    (secret,) = manifests["Secret"]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert set(env) == {"FUGUE_REGISTRY__URL", "FUGUE_SECRETS__API_KEYS"}
    for ref in env.values():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] in secret["stringData"]
    values = {name: secret["stringData"][ref["key"]] for name, ref in env.items()}
    cfg = load_config(env=values)
    # a shared PostgreSQL registry for the replicas, held (and shown) as secrets
    assert cfg.registry.url.reveal().startswith("postgresql://")
    assert "CHANGE-ME" not in repr(cfg.registry) and "CHANGE-ME" not in str(cfg.dump())
    assert len(cfg.secrets.api_keys) == 1


def test_resources_are_requested_and_limited(container):
    res = container["resources"]
    assert set(res["requests"]) == set(res["limits"]) == {"cpu", "memory"}
    assert res["requests"]["memory"] == "256Mi" and res["limits"]["memory"] == "512Mi"


def test_the_pod_runs_non_root_on_a_read_only_root_filesystem(deployment, container,
                                                              dockerfile):
    pod = deployment["spec"]["template"]["spec"]
    (user,) = [v for i, v in dockerfile["stages"]["runtime"] if i == "USER"]
    uid, gid = (int(x) for x in user.split(":"))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (
        uid, gid)
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    (tmp,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/tmp"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == tmp["name"]]
    assert "emptyDir" in volume


def test_termination_outlasts_the_pause_and_the_drain(deployment, container, service_defaults):
    pod = deployment["spec"]["template"]["spec"]
    pause = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pause[0] == "sleep"
    budget = float(pause[1]) + service_defaults["grace_seconds"]
    assert pod["terminationGracePeriodSeconds"] > budget, shlex.join(pause)


def test_the_services_and_the_budget_select_the_pods(manifests, deployment, service_defaults):
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    services = {s["metadata"]["name"]: s["spec"] for s in manifests["Service"]}
    assert set(services) == {"fugue-ppl", "fugue-ppl-metrics"}
    for spec in services.values():
        assert all(pod_labels[k] == v for k, v in spec["selector"].items())
        assert spec["ports"] == [{"name": "http", "port": service_defaults["port"],
                                  "targetPort": "http", "protocol": "TCP"}]
    assert services["fugue-ppl"]["type"] == "ClusterIP"
    # the headless one Prometheus resolves lists the replicas that are not ready too
    assert services["fugue-ppl-metrics"]["clusterIP"] == "None"
    assert services["fugue-ppl-metrics"]["publishNotReadyAddresses"] is True
    (pdb,) = manifests["PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    assert 0 < pdb["spec"]["minAvailable"] < deployment["spec"]["replicas"]
