"""The deployment files, checked offline with the real validators and against the code.

No Docker engine or cluster is needed: kubernetes-validate (bundled schemas), check-jsonschema
(the compose spec), yamllint and promtool validate the files; the rest checks that they agree
with the code — every env var is a setting the code reads, every command exists in the CLI,
every metric a query or alert uses is defined in src/selfheal/core/metrics.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import typer.main
import yaml
from prometheus_client import REGISTRY
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

import selfheal.core.metrics  # noqa: F401 - registers every selfheal_* metric
from selfheal.cli.main import app
from selfheal.core.config import Settings
from selfheal.llm.base import Role
from selfheal.stack import APPS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
COMPOSE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "selfheal.json"
ENV_EXAMPLE = ROOT / ".env.example"
K8S_VERSIONS = ("1.30.0", "1.33.0")
IMAGE = "selfheal"  # the image name in compose and k8s (kustomize rewrites it)
SERVICE_PORTS = {"manager": 8000, "worker": 8001, "evaluator": 8002}
# Variables the image, pip or the interpreter read, not selfheal settings.
RUNTIME_ENV = {
    "PATH",
    "PYTHONUNBUFFERED",
    "PYTHONDONTWRITEBYTECODE",
    "PIP_NO_CACHE_DIR",
    "PIP_DISABLE_PIP_VERSION_CHECK",
}


# --- helpers --------------------------------------------------------------------------


def tool(name: str) -> str:
    """A validator installed with the `dev` extra (beside this interpreter) or on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip(
            "promtool is not installed (Debian: apt-get install -y --no-install-recommends "
            "prometheus; scripts/test.sh does this as root)"
        )
    return found


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")


def k8s_docs() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in k8s_files():
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def k8s_objects(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec = obj["spec"]
    if obj["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"]["spec"])


def selfheal_containers() -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in k8s_docs():
        if obj["kind"] in {"Deployment", "StatefulSet", "Job", "CronJob"}:
            for container in pod_spec(obj)["containers"]:
                if container["image"].split(":")[0] == IMAGE:
                    yield f"{obj['kind']}/{obj['metadata']['name']}", container


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def selfheal_compose_services() -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose()["services"].items()
        if svc.get("image", "").split(":")[0] == IMAGE
    }


def dotenv_keys(path: Path) -> list[str]:
    keys = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keys.append(line.split("=", 1)[0].strip())
    return keys


def dockerfile_instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        line.split(None, 1)[1]
        for line in text.splitlines()
        if line.strip().upper().startswith(name + " ")
    ]


def load_module(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- what the code defines ------------------------------------------------------------


def setting_names() -> set[str]:
    """Every environment variable the settings (and the per-role LLM overrides) read."""
    names: set[str] = set()
    for section in Settings.model_fields.values():
        cls = section.default_factory
        assert isinstance(cls, type) and issubclass(cls, BaseSettings)
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        for field_name, field in cls.model_fields.items():
            alias = field.validation_alias
            if alias is None:
                names.add(prefix + field_name.upper())
            elif isinstance(alias, str):
                names.add(alias.upper())
            elif isinstance(alias, AliasChoices):
                names.update(str(choice).upper() for choice in alias.choices)
    for role in Role:  # selfheal.llm.registry.role_settings: LLM_<ROLE>_*
        for key in ("PROVIDER", "MODEL", "API_KEY", "BASE_URL"):
            names.add(f"LLM_{role.value.upper()}_{key}")
    return names


def metric_names() -> set[str]:
    """The series names of every selfheal_* metric registered by selfheal.core.metrics."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
    }
    names: set[str] = set()
    for family in REGISTRY.collect():
        if family.name.startswith("selfheal_"):
            names.update(family.name + s for s in suffixes.get(family.type, ("",)))
    return names


PROMQL_WORDS = {
    # aggregation, functions and keywords used by the dashboard and the alert rules
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "and",
    "or",
    "unless",
    "offset",
    "rate",
    "increase",
    "irate",
    "histogram_quantile",
    "absent",
    "label_replace",
    "label_values",
    "le",
    "topk",
    "clamp_min",
    "vector",
    "time",
}


def promql_metrics(expr: str) -> set[str]:
    """Metric names an expression selects (labels, strings, durations, functions removed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\$\w+", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", text))
    return {w for w in words if w not in PROMQL_WORDS}


def dashboard_exprs() -> list[str]:
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    exprs += [a["expr"] for a in dash.get("annotations", {}).get("list", []) if "expr" in a]
    for var in dash.get("templating", {}).get("list", []):
        query = var.get("query", {})
        inner = query.get("query", "") if isinstance(query, dict) else str(query)
        match = re.fullmatch(r"label_values\((\w+),\s*\w+\)", inner)
        if match:
            exprs.append(match.group(1))
    return exprs


def alert_exprs() -> list[tuple[str, str]]:
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())
    return [(r["alert"], r["expr"]) for g in rules["groups"] for r in g["rules"]]


def assert_cli_accepts(args: list[str], where: str) -> None:
    """`selfheal <args>` names a real command and its arguments parse (nothing is run).

    Uses Typer's command objects (Typer vendors its own click) by duck typing.
    """
    if args and args[0] == "selfheal":
        args = args[1:]
    assert args, f"{where}: no command"
    command: Any = typer.main.get_command(app)
    rest = list(args)
    while hasattr(command, "commands"):  # a group: descend by name
        assert rest, f"{where}: `selfheal {' '.join(args)}` stops at a command group"
        sub = command.commands.get(rest[0])
        assert sub is not None, f"{where}: `selfheal {' '.join(args)}`: no command {rest[0]!r}"
        command, rest = sub, rest[1:]
    try:
        ctx = command.make_context(command.name or "selfheal", rest)
    except Exception as exc:  # click's UsageError / BadParameter, from Typer's vendored click
        pytest.fail(f"{where}: `selfheal {' '.join(args)}` does not parse: {exc}")
    if command.name == "serve":
        assert ctx.params["service"] in APPS, f"{where}: unknown service {ctx.params['service']}"


def test_the_cli_check_would_catch_a_wrong_command() -> None:
    for bad in (
        ["serve", "manager", "--prot", "8000"],
        ["optimise"],
        ["serve", "manager", "--port", "x"],
    ):
        with pytest.raises((AssertionError, pytest.fail.Exception)):
            assert_cli_accepts(bad, "bad")


# --- the validators -------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_pass_strict_schema_validation(version: str) -> None:
    files = [str(p.relative_to(ROOT)) for p in k8s_files()]
    done = run(tool("kubernetes-validate"), "--strict", "-k", version, *files)
    assert done.returncode == 0, done.stdout + done.stderr
    passed = done.stdout.count(" passed for resource ")
    assert passed == len(k8s_docs()), done.stdout + done.stderr
    assert "WARN" not in done.stdout + done.stderr


def test_compose_file_matches_the_compose_spec() -> None:
    done = run(tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE))
    assert done.returncode == 0, done.stdout + done.stderr


def test_yaml_files_pass_yamllint() -> None:
    files = [COMPOSE, *K8S.glob("*.yaml"), *(ROOT / "deploy").rglob("*.yml")]
    files += list((ROOT / "deploy").rglob("*.yaml"))
    done = run(tool("yamllint"), "--strict", "-c", "deploy/yamllint.yaml", *map(str, files))
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_alert_rules() -> None:
    done = run(promtool(), "check", "rules", "deploy/prometheus/alerts.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_accepts_the_prometheus_config() -> None:
    done = run(promtool(), "check", "config", "deploy/prometheus/prometheus.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_alerts_fire_on_the_series_that_should_fire_them() -> None:
    done = run(promtool(), "test", "rules", "deploy/prometheus/alerts.test.yml")
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule (Grafana variables filled in)."""
    fill = {"$__rate_interval": "5m", "$__range": "6h", "$__interval": "1m", "$task_type": ".*"}
    rules = []
    for i, expr in enumerate(dashboard_exprs()):
        for var, value in fill.items():
            expr = expr.replace(var, value)
        rules.append({"record": f"dashboard:query_{i}", "expr": expr})
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = run(promtool(), "check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


# --- the files agree with the code ----------------------------------------------------


def test_dashboard_is_valid_json_and_covers_the_spec() -> None:
    dash = json.loads(DASHBOARD.read_text())
    titles = " | ".join(p["title"].lower() for p in dash["panels"])
    for topic in (
        "request rate",
        "p50",
        "p95",
        "pass rate",
        "score distribution",
        "active prompt version",
        "optimizer runs",
        "llm tokens",
        "sandbox executions",
    ):
        assert topic in titles, f"no panel about {topic!r}"
    datasource = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uids = {d["uid"] for d in datasource["datasources"]}
    for panel in dash["panels"]:
        if "datasource" in panel:
            assert panel["datasource"]["uid"] in uids, panel["title"]


def test_dashboard_queries_use_only_metrics_the_code_defines() -> None:
    known = metric_names()
    assert "selfheal_http_requests_total" in known  # the registry was read
    for expr in dashboard_exprs():
        unknown = promql_metrics(expr) - known
        assert not unknown, f"{expr!r} uses {sorted(unknown)}, not in selfheal.core.metrics"


def test_alert_rules_use_only_metrics_the_code_defines() -> None:
    known = metric_names() | {"up"}  # `up` is Prometheus' own, per scrape target
    for name, expr in alert_exprs():
        unknown = promql_metrics(expr) - known
        assert not unknown, f"alert {name} uses {sorted(unknown)}, not in selfheal.core.metrics"


def test_the_metric_name_check_would_catch_a_typo() -> None:
    expr = 'sum(rate(selfheal_evaluation_total{passed="true"}[5m])) by (task_type)'
    assert promql_metrics(expr) - metric_names() == {"selfheal_evaluation_total"}


def test_prometheus_scrapes_every_service_on_its_port() -> None:
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    scraped: set[str] = set()
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            scraped.update(static["targets"])
        for dns in job.get("dns_sd_configs", []):
            scraped.update(f"{name}:{dns['port']}" for name in dns["names"])
    for service, port in SERVICE_PORTS.items():
        assert f"{service}:{port}" in scraped


def test_env_vars_in_compose_are_settings_the_code_reads() -> None:
    settings = setting_names()
    for name, svc in selfheal_compose_services().items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: use the mapping form for environment"
        unknown = set(env) - settings
        assert not unknown, f"compose service {name} sets {sorted(unknown)}, which no code reads"


def test_env_example_holds_settings_and_compose_variables_only() -> None:
    interpolated = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    keys = dotenv_keys(ENV_EXAMPLE)
    assert "LLM_API_KEY" in keys
    unknown = set(keys) - setting_names() - interpolated
    assert not unknown, f".env.example has {sorted(unknown)}: neither a setting nor used by compose"
    values = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert values["LLM_API_KEY"] == "", "the example must run the keyless offline model"


def test_env_vars_in_kubernetes_are_settings_the_code_reads() -> None:
    settings = setting_names()
    config = k8s_objects("ConfigMap")["selfheal-config"]
    assert not set(config["data"]) - settings, sorted(set(config["data"]) - settings)
    secret = k8s_objects("Secret")["selfheal-app"]
    assert not set(secret["stringData"]) - settings, sorted(set(secret["stringData"]) - settings)
    for where, container in selfheal_containers():
        names = {e["name"] for e in container.get("env", [])}
        assert not names - settings, f"{where} sets {sorted(names - settings)}, which no code reads"
        refs = {
            r.get("configMapRef", r.get("secretRef", {})).get("name")
            for r in container.get("envFrom", [])
        }
        assert refs == {"selfheal-config", "selfheal-app"}, where


def test_env_vars_in_the_dockerfile_are_settings_or_runtime() -> None:
    names: set[str] = set()
    for args in dockerfile_instructions("ENV"):
        names.update(re.findall(r"(\w+)=", args))
    assert names, "no ENV found"
    unknown = names - setting_names() - RUNTIME_ENV
    assert not unknown, f"Dockerfile sets {sorted(unknown)}, which no code reads"


def test_dockerfile_command_exists_in_the_cli() -> None:
    (cmd,) = dockerfile_instructions("CMD")
    assert_cli_accepts(json.loads(cmd), "Dockerfile CMD")
    (entrypoint,) = dockerfile_instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["selfheal-entrypoint"]
    base = dockerfile_instructions("ARG")
    assert any("python:3.12-slim" in a for a in base)
    assert any("bubblewrap" in r for r in dockerfile_instructions("RUN"))
    assert dockerfile_instructions("USER") == ["10001:10001"]
    assert dockerfile_instructions("HEALTHCHECK")


def test_compose_commands_exist_in_the_cli() -> None:
    services = selfheal_compose_services()
    assert set(services) >= {"migrate", "manager", "worker", "evaluator", "optimizer"}
    for name, svc in services.items():
        assert_cli_accepts(list(svc["command"]), f"compose service {name}")
    # The seed's manual pass: `docker compose run --rm optimizer selfheal optimize --in-process`
    # (the optimizer container is part of the system: it runs the pass against the database).
    assert_cli_accepts(["selfheal", "optimize", "--in-process"], "docker compose run optimizer")
    assert services["optimizer"]["command"] == ["watch"]


def test_kubernetes_commands_exist_in_the_cli() -> None:
    seen = set()
    for where, container in selfheal_containers():
        assert "command" not in container, f"{where}: keep the image's entrypoint"
        assert_cli_accepts(list(container["args"]), where)
        seen.add(container["args"][0])
    assert seen == {"serve", "migrate", "optimize", "watch"}


def test_entrypoint_runs_selfheal_subcommands_and_explicit_programs(tmp_path: Path) -> None:
    fake = tmp_path / "selfheal"
    fake.write_text('#!/bin/sh\necho "selfheal $*"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    script = str(ROOT / "deploy/docker/entrypoint.sh")

    def entry(*args: str) -> str:
        done = subprocess.run(
            ["sh", script, *args], env=env, capture_output=True, text=True, timeout=10, check=True
        )
        return done.stdout.strip()

    assert entry("serve", "worker", "--port", "8001") == "selfheal serve worker --port 8001"
    assert entry("selfheal", "optimize") == "selfheal optimize"
    assert entry("watch") == "selfheal watch"
    assert entry("sh", "-c", "echo direct") == "direct"
    assert entry() == "selfheal --help"


def test_healthcheck_probes_the_port_the_container_serves() -> None:
    health = load_module(ROOT / "deploy/docker/healthcheck.py")
    venv = ["/opt/venv/bin/python", "/opt/venv/bin/selfheal"]
    assert (
        health.serve_port([*venv, "serve", "worker", "--host", "0.0.0.0", "--port", "8001"]) == 8001
    )
    assert health.serve_port([*venv, "serve", "evaluator"]) == 8002
    assert health.serve_port([*venv, "serve", "manager", "--port=9000"]) == 9000
    # compose's `init: true`: PID 1 is docker-init with the command after `--`
    assert (
        health.serve_port(["/sbin/docker-init", "--", "selfheal-entrypoint", "serve", "manager"])
        == 8000
    )
    assert health.serve_port([*venv, "watch"]) is None
    assert health.serve_port([*venv, "migrate"]) is None


# --- what SPEC §7 asks of the manifests -----------------------------------------------


def test_kustomization_lists_every_manifest_and_the_image() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["namespace"] == "agent-system"
    assert sorted(kustomization["resources"]) == sorted(p.name for p in k8s_files())
    assert [i["name"] for i in kustomization["images"]] == [IMAGE]
    for obj in k8s_docs():
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == "agent-system", obj["metadata"]["name"]


def test_services_have_probes_resources_and_a_locked_down_security_context() -> None:
    deployments = k8s_objects("Deployment")
    for name, port in SERVICE_PORTS.items():
        spec = pod_spec(deployments[name])
        (container,) = spec["containers"]
        assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
        assert container["ports"][0]["containerPort"] == port
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert container["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert k8s_objects("Service")[name]["spec"]["ports"][0]["port"] == port
    evaluator = deployments["evaluator"]
    (container,) = pod_spec(evaluator)["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["SANDBOX_MIN_ISOLATION"] == "bwrap"  # fail closed without bubblewrap
    assert container["securityContext"]["procMount"] == "Unmasked"


def test_worker_and_evaluator_autoscale() -> None:
    hpas = k8s_objects("HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {"worker", "evaluator"}
    for name in ("worker", "evaluator"):
        assert "replicas" not in k8s_objects("Deployment")[name]["spec"], "the HPA owns replicas"


def test_optimizer_cronjob_runs_every_five_minutes_one_at_a_time() -> None:
    cron = k8s_objects("CronJob")["optimizer"]
    assert cron["spec"]["schedule"] == "*/5 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    assert pod_spec(cron)["containers"][0]["args"] == ["optimize", "--in-process"]
    # The migration Job waits for the database (it starts beside the StatefulSet).
    migrate_args = pod_spec(k8s_objects("Job")["selfheal-migrate"])["containers"][0]["args"]
    assert migrate_args[0] == "migrate" and "--wait" in migrate_args


def test_the_secret_is_a_template_without_a_real_key() -> None:
    text = (K8S / "secret.yaml").read_text()
    assert "NOT REAL CREDENTIALS" in text
    app_secret = k8s_objects("Secret")["selfheal-app"]["stringData"]
    assert app_secret["LLM_API_KEY"] == ""
    assert "REPLACE" in app_secret["DATABASE_URL"]
    assert (
        "REPLACE" in k8s_objects("Secret")["selfheal-postgres"]["stringData"]["POSTGRES_PASSWORD"]
    )


def test_network_policies_isolate_the_internal_services() -> None:
    policies = k8s_objects("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}

    def sources(name: str) -> list[dict[str, Any]]:
        return [peer for rule in policies[name]["spec"]["ingress"] for peer in rule.get("from", [])]

    for name in ("worker", "evaluator"):
        allowed: set[str] = set()
        for peer in sources(name):
            if "podSelector" in peer:
                exprs = peer["podSelector"].get("matchExpressions", [])
                allowed.update(v for e in exprs for v in e["values"])
        assert allowed == {"manager", "optimizer"}, name
        egress_ports = {p["port"] for r in policies[name]["spec"]["egress"] for p in r["ports"]}
        assert egress_ports == {5432}, f"{name} may reach only the DB"
    ingress_from_anywhere = [r for r in policies["manager"]["spec"]["ingress"] if "from" not in r]
    assert ingress_from_anywhere, "the manager is the ingress"
    for name, policy in policies.items():
        if name != "manager":
            for rule in policy["spec"].get("ingress", []):
                assert "from" in rule, f"{name} must not accept traffic from anywhere"


def test_compose_wires_the_stack_in_order() -> None:
    services = compose()["services"]
    assert services["db"]["image"].startswith("postgres:16")
    assert "healthcheck" in services["db"]
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    for name in ("manager", "worker", "evaluator", "optimizer"):
        condition = services[name]["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
    opts = services["evaluator"]["security_opt"]
    assert {"seccomp=unconfined", "apparmor=unconfined"} <= set(opts)
    assert services["evaluator"]["environment"]["SANDBOX_MIN_ISOLATION"] == "bwrap"
    assert {"prometheus", "grafana"} <= set(services)
