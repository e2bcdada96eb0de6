"""The deployment files under infra/ are consistent with the code, checked without Docker or a
cluster: cfn-lint on the SAM template, the settings every manifest sets through the real
``load_settings``, and the structural promises (probes, replicas, handlers, locale)."""

from __future__ import annotations

import importlib
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest
import yaml

from functions.registry import all_functions
from shared.config import ENV_PREFIX, Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATE = INFRA / "aws" / "template.yaml"
COMPOSE = INFRA / "compose.yaml"
K8S = INFRA / "k8s"
DOCKERFILE = INFRA / "Dockerfile"

# Stands in for the secrets an operator provides; long enough for production mode.
JWT_SECRET = "test-only-jwt-secret-0123456789abcdefghijklmnop"
LAMBDA_MODULE = "functions.runtime.aws_lambda"


def _registered_names() -> list[str]:
    names = [spec.name for spec in all_functions()]
    assert "indicators" in names
    return names


def _assert_real_settings(environment: Mapping[str, str], where: str) -> Settings:
    """Every QUANT_* name is a Settings field, and the values pass the real validation."""
    quant = {k: v for k, v in environment.items() if k.startswith(ENV_PREFIX)}
    fields = {ENV_PREFIX + name.upper() for name in Settings.__struct_fields__}
    assert sorted(set(quant) - fields) == [], f"{where} sets unknown settings"
    return load_settings(environ=quant, env_file=None)


# --- AWS SAM -------------------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, ...) read as their long forms."""


def _cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_CfnLoader)
    return loaded


def _resolve(value: Any, refs: Mapping[str, str]) -> str:
    """The value a deployed stack would give, for the !Ref/!Sub forms the environment uses."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Ref" in value:
        return refs[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([^}]+)\}", lambda m: refs[m.group(1)], value["Fn::Sub"])
    raise AssertionError(f"cannot resolve {value!r}")


def _lambda_functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for every Lambda function in the template."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] in {"AWS::Serverless::Function", "AWS::Lambda::Function"}
    }


def _function_for(template: dict[str, Any], name: str) -> tuple[str, dict[str, Any]]:
    wanted = {"Fn::Sub": f"${{FunctionNamePrefix}}{name}"}
    found = [
        (logical_id, resource)
        for logical_id, resource in _lambda_functions(template).items()
        if resource["Properties"].get("FunctionName") == wanted
    ]
    assert len(found) == 1, f"want one function named FunctionNamePrefix + {name!r}"
    return found[0]


def test_sam_template_passes_cfn_lint() -> None:
    from cfnlint.api import ManualArgs, lint_file  # noqa: PLC0415  (slow import, one test)

    matches = lint_file(TEMPLATE, config=ManualArgs(regions=["cn-north-1", "us-east-1"]))
    assert matches == [], "\n".join(str(match) for match in matches)


def test_every_registered_function_has_a_lambda_with_its_handler(template: dict[str, Any]) -> None:
    names = _registered_names()
    for name in names:
        logical_id, resource = _function_for(template, name)
        properties = resource["Properties"]
        # Container-image functions carry the handler as the image command.
        assert properties["PackageType"] == "Image"
        assert properties["ImageConfig"]["Command"] == [f"{LAMBDA_MODULE}.{name}"]
        assert resource["Metadata"]["DockerBuildTarget"] == "lambda"
        context = (TEMPLATE.parent / resource["Metadata"]["DockerContext"]).resolve()
        assert context == ROOT
        assert (context / resource["Metadata"]["Dockerfile"]).resolve() == DOCKERFILE
        outputs = [output["Value"] for output in template["Outputs"].values()]
        assert {"Fn::GetAtt": [logical_id, "Arn"]} in outputs, f"no ARN output for {name}"
    assert len(_lambda_functions(template)) == len(names), "a Lambda with no registered function"


def test_lambda_handlers_exist_in_the_runtime_module() -> None:
    if importlib.util.find_spec(LAMBDA_MODULE) is None:
        pytest.skip(f"{LAMBDA_MODULE} is not written yet")
    module = importlib.import_module(LAMBDA_MODULE)
    for name in _registered_names():
        assert callable(getattr(module, name, None)), f"{LAMBDA_MODULE}.{name} is missing"


def test_gateway_policy_invokes_every_function(template: dict[str, Any]) -> None:
    statements = template["Resources"]["GatewayAccessPolicy"]["Properties"]["PolicyDocument"]
    invoke = next(s for s in statements["Statement"] if s["Action"] == "lambda:InvokeFunction")
    expected = [{"Fn::GetAtt": [_function_for(template, n)[0], "Arn"]} for n in _registered_names()]
    assert sorted(map(str, invoke["Resource"])) == sorted(map(str, expected))


def test_lambda_environment_passes_settings_validation(template: dict[str, Any]) -> None:
    refs = {"ObjectsBucket": "quant-stack-objectsbucket-1a2b3c", "AWS::Region": "cn-north-1"}
    refs["JwtSecret"] = JWT_SECRET
    refs["DatabaseUrl"] = "postgresql+psycopg://quant:secret@db.internal:5432/quant"
    globals_env = template["Globals"]["Function"]["Environment"]["Variables"]
    for name in _registered_names():
        own_env = _function_for(template, name)[1]["Properties"].get("Environment", {})
        merged = {**globals_env, **own_env.get("Variables", {})}
        settings = _assert_real_settings(
            {key: _resolve(value, refs) for key, value in merged.items()}, f"Lambda {name}"
        )
        assert (settings.mode, settings.objects) == ("production", "s3")
        assert settings.s3_bucket == refs["ObjectsBucket"]
        if name == "orders":  # books trades in the gateway's database
            assert settings.database_url == refs["DatabaseUrl"]
    assert template["Parameters"]["DatabaseUrl"]["NoEcho"] is True
    secret = template["Parameters"]["JwtSecret"]
    assert secret["NoEcho"] is True
    assert secret["MinLength"] >= 32


def test_bucket_is_private_encrypted_and_expires_results(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["ObjectsBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert len(bucket["PublicAccessBlockConfiguration"]) == 4
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = bucket["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if r.get("Prefix") == "results/" and "ExpirationInDays" in r]
    assert expiring, "no lifecycle rule expires results/"


# --- compose -------------------------------------------------------------------------------------

_INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class MissingVariableError(LookupError):
    pass


def _interpolate(text: str, environment: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?message}, enough for this file."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.groups()
        value = environment.get(name)
        if operator in {":-", "-"}:
            return value if value else argument
        if operator in {":?", "?"} and not value:
            raise MissingVariableError(f"{name}: {argument}")
        return value or ""

    return _INTERPOLATION.sub(replace, text)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


APP_SERVICES = ("migrate", "gateway", "worker")


def _service_environment(compose: dict[str, Any], service: str) -> dict[str, str]:
    environment = compose["services"][service]["environment"]
    secrets = {"QUANT_JWT_SECRET": JWT_SECRET}
    return {key: _interpolate(str(value), secrets) for key, value in environment.items()}


def test_compose_runs_the_production_stack(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "minio", *APP_SERVICES}
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["gateway"]["command"] == ["quant", "serve"]
    assert services["migrate"]["command"] == ["quant", "db", "upgrade"]
    assert services["worker"]["command"][:2] == ["dramatiq", "functions.runtime.worker"]
    for service in APP_SERVICES:
        build = services[service]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
        assert build["target"] in _dockerfile_stages()


def test_compose_settings_pass_validation_and_name_compose_hosts(compose: dict[str, Any]) -> None:
    for service in APP_SERVICES:
        settings = _assert_real_settings(_service_environment(compose, service), service)
        assert (settings.mode, settings.bus) == ("production", "redis")
        assert (settings.dispatcher, settings.objects) == ("dramatiq", "s3")
        assert settings.jwt_secret == JWT_SECRET
        for url in (settings.database_url, settings.redis_url, settings.s3_endpoint_url or ""):
            assert urlsplit(url).hostname in compose["services"], f"{service}: {url}"


def test_compose_demands_the_jwt_secret(compose: dict[str, Any]) -> None:
    value = compose["services"]["gateway"]["environment"]["QUANT_JWT_SECRET"]
    with pytest.raises(MissingVariableError, match="QUANT_JWT_SECRET"):
        _interpolate(value, {})


def test_compose_start_order_waits_on_health_and_one_shots(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["gateway"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    for name, service in services.items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            target = services[dependency]
            if rule["condition"] == "service_healthy":
                assert not target["healthcheck"].get("disable", False), dependency
                assert target["healthcheck"]["test"], dependency
            elif rule["condition"] == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} must be a one-shot"
    assert services["gateway"]["healthcheck"]["test"][:2] == ["CMD", "python"]
    compile(services["gateway"]["healthcheck"]["test"][-1], "healthcheck", "exec")


# --- Kubernetes ----------------------------------------------------------------------------------


def _manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                yield path, document


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in _manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"want one {kind} {name}"
    return found[0]


def _pod_specs() -> Iterator[tuple[str, dict[str, Any]]]:
    for _, document in _manifests():
        if document["kind"] in {"Deployment", "Job"}:
            yield document["metadata"]["name"], document["spec"]["template"]["spec"]


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk - {"secret.template.yaml"}
    kinds = {document["kind"] for _, document in _manifests()}
    assert kinds >= {"Namespace", "ConfigMap", "Secret", "Deployment", "Service", "Job"}


def test_k8s_settings_pass_validation_once_the_secret_is_filled_in() -> None:
    config = _one("ConfigMap", "quant-settings")["data"]
    secret = _one("Secret", "quant-secrets")["stringData"]
    assert set(config).isdisjoint(secret), "a key in both: the Secret would silently win"
    # The template's placeholder must not start a production gateway.
    with pytest.raises(SettingsError, match="QUANT_JWT_SECRET"):
        _assert_real_settings({**config, **secret}, "k8s")
    settings = _assert_real_settings({**config, **secret, "QUANT_JWT_SECRET": JWT_SECRET}, "k8s")
    assert (settings.mode, settings.bus, settings.dispatcher) == ("production", "redis", "dramatiq")
    for name, pod in _pod_specs():
        for container in pod["containers"]:
            refs = {next(iter(source.values()))["name"] for source in container["envFrom"]}
            assert refs == {"quant-settings", "quant-secrets"}, name
            assert all(e["name"] in secret or e["name"] in config for e in container.get("env", []))


def test_gateway_is_a_single_recreated_replica_with_probes() -> None:
    gateway = _one("Deployment", "quant-gateway")
    assert gateway["spec"]["replicas"] == 1
    assert gateway["spec"]["strategy"]["type"] == "Recreate"
    (container,) = gateway["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    port = int(_one("ConfigMap", "quant-settings")["data"]["QUANT_PORT"])
    assert container["ports"] == [{"name": "http", "containerPort": port}]
    service = _one("Service", "quant-gateway")
    assert service["spec"]["selector"].items() <= gateway["spec"]["selector"]["matchLabels"].items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"


def test_pods_run_as_non_root_with_resource_limits() -> None:
    user = _dockerfile_user()
    for name, pod in _pod_specs():
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == user, name
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
            assert {"requests", "limits"} <= container["resources"].keys(), name
    worker = _one("Deployment", "quant-worker")["spec"]["template"]["spec"]["containers"][0]
    assert worker["command"][:2] == ["dramatiq", "functions.runtime.worker"]
    job = _one("Job", "quant-migrate")["spec"]["template"]["spec"]["containers"][0]
    assert job["command"] == ["quant", "db", "upgrade"]


def test_kustomize_builds_the_manifests() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed: `kubectl kustomize` cannot run")
    built = subprocess.run(
        [kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    documents = list(yaml.safe_load_all(built))
    assert all(d["metadata"].get("namespace", "quant") == "quant" for d in documents)
    images = {
        container["image"]
        for d in documents
        if d["kind"] in {"Deployment", "Job"}
        for container in d["spec"]["template"]["spec"]["containers"]
    }
    assert len(images) == 1, images


# --- Dockerfile ----------------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    instructions = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, arguments = stripped.partition(" ")
            instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _dockerfile_stages() -> list[str]:
    return [args.split()[-1] for kw, args in _dockerfile_instructions() if kw == "FROM"]


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    last_from = max(i for i, (kw, _) in enumerate(instructions) if kw == "FROM")
    return instructions[last_from:]


def _dockerfile_user() -> int:
    users = [args for kw, args in _final_stage() if kw == "USER"]
    assert users, "the default stage must not run as root"
    return int(users[-1].split(":")[0])


def test_dockerfile_builds_from_python_311_slim_with_locked_uv() -> None:
    instructions = _dockerfile_instructions()
    image = next(args for kw, args in instructions if kw == "ARG" and "PYTHON_IMAGE=" in args)
    assert image.split("=", 1)[1].startswith("python:3.11-slim")
    runs = " ".join(args for kw, args in instructions if kw == "RUN")
    assert re.search(r"uv sync --frozen --no-dev", runs)
    # shared.store.migrate finds migrations/ beside the sources: the install must stay editable.
    assert "--no-editable" not in runs
    assert re.search(r"pip install [^&]*\buv==", runs), "uv is installed from PyPI, pinned"
    assert re.search(r"apt-get install[^&]*\blocales\b", runs)
    assert re.search(r"localedef -i zh_CN -f GB18030 zh_CN\.GB18030", runs)
    assert {"build", "lambda", "runtime"} <= set(_dockerfile_stages())


def test_dockerfile_default_stage_serves_the_gateway_as_non_root() -> None:
    final = _final_stage()
    assert final[0][1].endswith("AS runtime")
    assert _dockerfile_user() != 0
    assert ("EXPOSE", "8000") in final
    assert json.loads(next(args for kw, args in final if kw == "CMD")) == ["quant", "serve"]
    healthcheck = next(args for kw, args in final if kw == "HEALTHCHECK")
    command = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert command[:2] == ["python", "-c"]
    assert "/health" in command[2]
    compile(command[2], "healthcheck", "exec")


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    lines = (INFRA / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", "an allow-list: nothing is sent unless named"
    packages = {"!shared/", "!gateway/", "!functions/", "!migrations/"}
    assert {*packages, "!pyproject.toml", "!uv.lock", "!README.md"} <= set(patterns)
    assert not any(p.lstrip("!").startswith((".env", ".venv", "var")) for p in patterns)
