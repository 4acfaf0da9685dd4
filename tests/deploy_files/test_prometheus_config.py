"""deploy/prometheus/prometheus.yml: the real ``promtool check config`` (which also
checks the rule file it loads), one scrape job over the replicas behind the headless
Service, labelled as the generated rules aggregate."""

from fugue_ppl.serving.slo.rules import AGGREGATION


def test_promtool_checks_the_config_and_its_rules(promtool, run_tool, deploy_dir):
    result = run_tool([promtool, "check", "config", str(deploy_dir / "prometheus" /
                                                         "prometheus.yml")])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 1 rule files found" in result.stdout
    assert "prometheus.yml is valid prometheus config file syntax" in result.stdout


def test_promtool_refuses_a_broken_config(promtool, run_tool, deploy_dir, tmp_path):
    # The control: the check reads the file (an unknown field fails it).
    text = (deploy_dir / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
    bad = tmp_path / "prometheus.yml"
    bad.write_text(text.replace("metrics_path:", "metric_path:"), encoding="utf-8")
    (tmp_path / "rules.yml").write_text("groups: []\n", encoding="utf-8")
    result = run_tool([promtool, "check", "config", str(bad)])
    assert result.returncode != 0 and "metric_path" in result.stdout + result.stderr


def test_the_job_scrapes_every_replica_with_the_labels_the_rules_keep(deploy_dir, yaml,
                                                                      service_defaults):
    config = yaml.safe_load((deploy_dir / "prometheus" / "prometheus.yml").read_text("utf-8"))
    assert config["rule_files"] == ["rules.yml"]
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "fugue-ppl" and job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == ["fugue-ppl-metrics.fugue.svc.cluster.local"]
    assert (sd["type"], sd["port"]) == ("A", service_defaults["port"])
    services = [yaml.safe_load(p.read_text("utf-8"))
                for p in (deploy_dir / "kubernetes").glob("service*.yaml")]
    (headless,) = [s for s in services if s["spec"].get("clusterIP") == "None"]
    assert sd["names"][0].split(".")[:2] == [headless["metadata"]["name"],
                                              headless["metadata"]["namespace"]]
    # the rules sum by namespace and job: the job's name and a namespace label
    assert set(AGGREGATION) == {"namespace", "job"}
    assert {"target_label": "namespace", "replacement": "fugue"} in job["relabel_configs"]
