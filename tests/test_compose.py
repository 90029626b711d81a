"""Static checks of docker-compose.yml, Dockerfile, .env.example and .dockerignore.

These tests read the files and hold them to the code, in a second: every command the stack runs
is a real ``newsingest`` command, every ``NEWSINGEST_*`` variable is a real setting, the worker
can be scaled, every long-running service has a health check, and no secret is written down.
``docker/test/smoke.py`` (run by .ci/run where Docker can run) starts the stack for real.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import shlex
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

import worker.cli
from worker.cli import app
from worker.queue.app import celery_config
from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
HOST_OVERRIDE = ROOT / "docker" / "test" / "compose.host.yml"

PREFIX = "NEWSINGEST_"
# Read by worker/settings.py itself (where the TOML file is), not a field of Settings.
NON_FIELD_VARIABLES = {"NEWSINGEST_CONFIG"}
APP_SERVICES = ("watcher", "worker")
SERVER_SERVICES = ("redis", "postgres")
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^}]*)\}")


# --- reading the files ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def env_file_values(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file, comments and blank lines skipped."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment:``, in either of compose's two forms."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


class Refused(Exception):
    """Compose refuses the file: a ``${VAR:?message}`` whose variable is empty or unset."""


def interpolate(text: str, values: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:?message}``, ``${VAR?message}``, ``${VAR:-default}`` and
    ``${VAR-default}``, from ``values`` (a ``:`` form treats an empty value as unset)."""

    def replace(match: re.Match[str]) -> str:
        name, rest = match["name"], match["rest"]
        value = values.get(name)
        if (rest.startswith(":?") and not value) or (rest.startswith("?") and value is None):
            raise Refused(f"{name}: {rest.lstrip(':?')}")
        if (rest.startswith(":-") and not value) or (rest.startswith("-") and value is None):
            return rest.split("-", 1)[1]
        if value is None:
            raise AssertionError(f"${{{name}}} is not set in .env.example")
        return value

    return INTERPOLATION.sub(replace, text.replace("$$", "\0")).replace("\0", "$")


def example_with_secrets() -> dict[str, str]:
    """.env.example as a user fills it in: the values it leaves empty set."""
    example = env_file_values(ENV_EXAMPLE)
    return {
        **example,
        "POSTGRES_PASSWORD": "s3cretPassw0rd",
        "FLOWER_BASIC_AUTH": "admin:s3cretPassw0rd",
    }


def as_argv(command: str | list[str]) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(part) for part in command]


def uses_our_image(service: dict[str, Any]) -> bool:
    return "build" in service or str(service.get("image", "")).startswith("newsingest")


def healthcheck_argvs(service: dict[str, Any]) -> list[list[str]]:
    """The command lines a health check runs: a CMD list, or each command of a CMD-SHELL."""
    test = service["healthcheck"]["test"]
    if isinstance(test, str):
        test = ["CMD-SHELL", test]
    kind, rest = test[0], [str(part) for part in test[1:]]
    if kind == "CMD":
        return [rest]
    assert kind == "CMD-SHELL", f"unexpected healthcheck form {kind!r}"
    lexer = shlex.shlex(" ".join(rest), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    argvs: list[list[str]] = [[]]
    for token in lexer:
        if token in (";", "&", "&&", "|", "||"):
            argvs.append([])
        else:
            argvs[-1].append(token)
    return [argv for argv in argvs if argv]


def newsingest_invocations(services: dict[str, dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """(where, arguments after ``newsingest``) for every newsingest command the stack runs."""
    found: list[tuple[str, list[str]]] = []
    for name, service in services.items():
        if uses_our_image(service) and "command" in service:
            # our image's ENTRYPOINT is ["newsingest"]: the command is its arguments
            found.append((f"{name}.command", as_argv(service["command"])))
        if "healthcheck" in service:
            for argv in healthcheck_argvs(service):
                if argv and Path(argv[0]).name == "newsingest":
                    found.append((f"{name}.healthcheck", argv[1:]))
    return found


def parse_duration(text: str | int | float) -> float:
    """Compose durations: ``60s``, ``1m30s``, ``1h``, ``500ms`` (a bare number is seconds)."""
    if isinstance(text, int | float):
        return float(text)
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def variables_set_in_files(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Every NEWSINGEST_* name set or mentioned in the compose file, .env.example, Dockerfile."""
    where: dict[str, str] = {}
    for name, service in services.items():
        for key in environment(service):
            if key.startswith(PREFIX):
                where.setdefault(key, f"docker-compose.yml: {name}.environment")
    for key in env_file_values(ENV_EXAMPLE):
        if key.startswith(PREFIX):
            where.setdefault(key, ".env.example")
    for path in (COMPOSE_FILE, DOCKERFILE):
        for key in re.findall(rf"\b{PREFIX}[A-Z0-9_]+", path.read_text(encoding="utf-8")):
            where.setdefault(key, path.name)
    return where


# --- the commands -----------------------------------------------------------------------------


def test_compose_runs_only_real_cli_commands(services: dict[str, dict[str, Any]]) -> None:
    """Each newsingest command in docker-compose.yml (service commands and health checks) names a
    command of ``worker.cli.app`` and its options parse: `--help` after them exits 0."""
    group = typer.main.get_command(app)
    commands = set(group.commands)  # type: ignore[attr-defined]
    invocations = newsingest_invocations(services)
    assert {where for where, _ in invocations} >= {"watcher.command", "worker.command"}
    runner = CliRunner()
    for where, args in invocations:
        names = [arg for arg in args if not arg.startswith("-")]
        assert names, f"{where}: no command in {args}"
        assert names[0] in commands, f"{where}: `newsingest {names[0]}` is not one of {commands}"
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"{where}: `newsingest {shlex.join(args)}`: {result.output}"


def test_services_run_the_two_halves(services: dict[str, dict[str, Any]]) -> None:
    """The watcher runs `newsingest watch` and the worker `newsingest worker`, on our image."""
    assert as_argv(services["watcher"]["command"])[-1] == "watch"
    assert as_argv(services["worker"]["command"])[-1] == "worker"
    for name in APP_SERVICES:
        assert uses_our_image(services[name]), f"{name} does not run the newsingest image"


def test_the_image_is_built_once(services: dict[str, dict[str, Any]]) -> None:
    """Only the watcher builds (`build: .`); the worker runs the same tag and depends on the
    watcher, so that compose builds the image before it looks for the worker's (docker-compose
    1.29 would otherwise try to pull newsingest:local), and `--scale worker=N` does not rebuild
    and recreate the running containers."""
    builders = [name for name, service in services.items() if "build" in service]
    assert builders == ["watcher"], f"services that build: {builders}"
    assert services["watcher"]["build"] in (".", {"context": "."})
    assert services["worker"]["image"] == services["watcher"]["image"]
    assert "watcher" in (services["worker"].get("depends_on") or {})


def test_no_top_level_name(compose: dict[str, Any]) -> None:
    """docker-compose 1.29 refuses a top-level `name:`; the project is named in .env instead."""
    assert "name" not in compose
    assert env_file_values(ENV_EXAMPLE).get("COMPOSE_PROJECT_NAME")


def test_worker_healthcheck_pings_its_own_celery_node(services: dict[str, dict[str, Any]]) -> None:
    """The worker's health check is Python that compiles, imports names that exist, and pings
    exactly the node whose name `newsingest worker` wrote to node_name_file, a path that compose
    sets inside the container (not on a shared volume)."""
    argv = healthcheck_argvs(services["worker"])[0]
    assert argv[:2] == ["python", "-c"], argv
    code = argv[2]
    tree = ast.parse(code)  # fails on a syntax error
    imported = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert imported, "the check should go through our app and settings"
    for node in imported:
        module = importlib.import_module(node.module or "")
        for alias in node.names:
            assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
    assert ".control.ping(destination=[node]" in code
    assert "settings.node_name_file.read_text(" in code
    node_file = environment(services["worker"])["NEWSINGEST_NODE_NAME_FILE"]
    mounts = [str(v).split(":")[1] for v in services["worker"]["volumes"]]
    assert not any(node_file.startswith(mount + "/") for mount in mounts), node_file
    worker_source = inspect.getsource(worker.cli.worker)
    assert "--hostname={_node_name(settings)}" in worker_source


def test_node_names_are_unique_and_written(tmp_path: Path) -> None:
    """Two workers with the same pid and host name (containers under host networking) get
    different node names, and the name is written to node_name_file."""
    node_file = tmp_path / "node"
    settings = Settings(node_name_file=node_file)
    first = worker.cli._node_name(settings)
    assert node_file.read_text(encoding="utf-8") == first + "\n"
    second = worker.cli._node_name(settings)
    assert first != second
    assert re.fullmatch(r"newsingest-\d+-[0-9a-f]{6}@.+", first), first
    assert "%" not in first


# --- the settings -----------------------------------------------------------------------------


def test_every_newsingest_variable_is_a_real_setting(services: dict[str, dict[str, Any]]) -> None:
    """Every NEWSINGEST_* variable in docker-compose.yml, .env.example and the Dockerfile is a
    field of worker.settings.Settings (a typo would be silently ignored at run time)."""
    fields = set(Settings.model_fields)
    found = variables_set_in_files(services)
    assert "NEWSINGEST_BROKER_URL" in found and "NEWSINGEST_STORE_URL" in found
    unknown = {
        key: where
        for key, where in found.items()
        if key not in NON_FIELD_VARIABLES and key[len(PREFIX) :].lower() not in fields
    }
    assert not unknown, f"not settings of worker.settings.Settings: {unknown}"


def test_compose_environment_gives_valid_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The watcher's and worker's environment, filled from .env.example as compose would, builds
    a Settings that validates and points at the stack's Redis, PostgreSQL and volumes."""
    example = example_with_secrets()
    for name in APP_SERVICES:
        env = {**example, **environment(services[name])}  # environment: wins over env_file
        for key in [k for k in env if k.startswith(PREFIX)]:
            monkeypatch.setenv(key, interpolate(env[key], example))
        settings = Settings()
        assert settings.broker_url == "redis://redis:6379/0"
        user, password, db = (
            example[k] for k in ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
        )
        assert settings.store_url == f"postgresql+psycopg://{user}:{password}@postgres:5432/{db}"
        assert settings.log_format == "json"
        mounts = dict(reversed(v.split(":")[:2]) for v in services[name]["volumes"])
        assert mounts.get(str(settings.inbox)) == "inbox", f"{name}: inbox is not on the volume"
        assert mounts.get(str(settings.data_dir)) == "data", f"{name}: data is not on the volume"


# --- scaling, health, shutdown ----------------------------------------------------------------


def test_worker_is_scalable(services: dict[str, dict[str, Any]]) -> None:
    """`docker compose up --scale worker=N` needs a worker with no container_name, no fixed host
    port and no fixed hostname (each Celery node needs its own name)."""
    worker_service = services["worker"]
    assert "container_name" not in worker_service
    assert "hostname" not in worker_service
    for port in worker_service.get("ports", []):
        published = port.get("published") if isinstance(port, dict) else str(port).split(":")[:-1]
        assert not published, f"fixed host port {port!r} on the worker"
    assert "deploy" not in worker_service or "replicas" not in worker_service["deploy"]


def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    """Every service (all of them run until stopped) has a health check that is not disabled."""
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        assert not check.get("disable"), f"{name}: healthcheck disabled"
        assert check.get("test") and check["test"] != ["NONE"], f"{name}: healthcheck has no test"
        assert parse_duration(check["timeout"]) < parse_duration(check["interval"]) or name in (
            "redis",
            "postgres",
        ), f"{name}: a check that outlasts its interval piles up"


def test_servers_are_configured_for_safety(services: dict[str, dict[str, Any]]) -> None:
    """Redis 7 with noeviction and an append-only file, checked with redis-cli ping; PostgreSQL 16
    with its credentials from .env, checked with pg_isready."""
    redis = services["redis"]
    assert str(redis["image"]).startswith("redis:7")
    argv = as_argv(redis["command"])
    assert argv[0] == "redis-server"
    options = dict(zip(argv[1::2], argv[2::2], strict=False))
    assert options.get("--maxmemory-policy") == "noeviction"
    assert options.get("--appendonly") == "yes"
    assert healthcheck_argvs(redis) == [["redis-cli", "ping"]]
    postgres = services["postgres"]
    assert str(postgres["image"]).startswith("postgres:16")
    assert postgres.get("env_file") in (".env", [".env"])
    assert "pg_isready" in [argv[0] for argv in healthcheck_argvs(postgres)]


def test_app_services_wait_for_healthy_servers(services: dict[str, dict[str, Any]]) -> None:
    """watcher and worker start only once Redis and PostgreSQL report healthy, and restart unless
    stopped."""
    for name in APP_SERVICES:
        depends = services[name].get("depends_on") or {}
        for server in SERVER_SERVICES:
            assert isinstance(depends, dict) and server in depends, f"{name}: no {server} dep"
            assert depends[server].get("condition") == "service_healthy", f"{name} -> {server}"
        assert services[name].get("restart") == "unless-stopped", name


def test_stop_grace_period_outlasts_soft_shutdown(services: dict[str, dict[str, Any]]) -> None:
    """Docker waits longer than Celery's soft shutdown before SIGKILL, and the worker's stop
    signal is SIGQUIT, the one that starts the soft shutdown (SIGTERM waits without bound)."""
    soft = float(celery_config(Settings())["worker_soft_shutdown_timeout"])
    for name in APP_SERVICES:
        grace = parse_duration(services[name].get("stop_grace_period", "10s"))
        assert grace > soft, f"{name}: stop_grace_period {grace}s <= soft shutdown {soft}s"
    assert services["worker"].get("stop_signal", "SIGTERM") in ("SIGTERM", "SIGQUIT")


def test_app_services_share_the_volumes(compose: dict[str, Any]) -> None:
    """watcher and worker mount the same named inbox and data volumes at the same paths, the
    paths that NEWSINGEST_INBOX and NEWSINGEST_DATA_DIR name."""
    assert {"inbox", "data"} <= set(compose.get("volumes") or {})
    targets = {}
    for name in APP_SERVICES:
        service = compose["services"][name]
        mounts = dict(str(v).split(":")[:2] for v in service["volumes"])  # volume -> path
        env = environment(service)
        assert mounts.get("inbox") == env["NEWSINGEST_INBOX"], f"{name}: inbox mount"
        assert mounts.get("data") == env["NEWSINGEST_DATA_DIR"], f"{name}: data mount"
        targets[name] = (mounts["inbox"], mounts["data"])
    assert targets["watcher"] == targets["worker"]


def test_flower_is_optional(services: dict[str, dict[str, Any]]) -> None:
    """Flower starts only with its profile, listens on the loopback interface only, and has
    basic auth from .env, required (compose refuses an empty FLOWER_BASIC_AUTH)."""
    flower = services["flower"]
    assert flower.get("profiles"), "flower should be behind a compose profile"
    for name, service in services.items():
        if name != "flower":
            assert not service.get("profiles"), f"{name} should start by default"
    for port in flower.get("ports", []):
        assert str(port).startswith("127.0.0.1:"), f"flower published beyond loopback: {port}"
    auth = environment(flower).get("FLOWER_BASIC_AUTH", "")
    assert re.fullmatch(r"\$\{FLOWER_BASIC_AUTH:\?[^}]+\}", auth), auth
    assert not any("basic_auth" in arg for arg in as_argv(flower["command"]))


# --- secrets ----------------------------------------------------------------------------------


def test_no_password_literal_in_compose_file(services: dict[str, dict[str, Any]]) -> None:
    """No password is written in docker-compose.yml: credentials in URLs and *PASSWORD*
    variables come from .env by ${...}, and the example password appears nowhere."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    for placeholder in worker.cli.PLACEHOLDER_PASSWORDS:
        assert placeholder not in text
    userinfos = re.findall(r"://([^/@\s\"']*)@", INTERPOLATION.sub("", text))
    assert userinfos, "the store URL's credentials should come from ${...}"
    for userinfo in userinfos:
        assert userinfo.strip(":") == "", f"credentials written in a URL: {userinfo}"
    for name, service in services.items():
        for key, value in environment(service).items():
            if "PASSWORD" in key.upper():
                assert INTERPOLATION.fullmatch(value), f"{name}.{key} is a literal"
    assert not re.search(r"(?i)(requirepass|password\s*[:=])\s*[\"']?\w", text)


def test_env_example_is_safe_to_commit() -> None:
    """.env.example leaves the password and Flower's auth empty, with a comment to set them,
    has every variable the compose file interpolates, and .env (the real one) is gitignored."""
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    values = env_file_values(ENV_EXAMPLE)
    assert values["POSTGRES_PASSWORD"] == ""
    assert values["FLOWER_BASIC_AUTH"] == ""
    assert re.search(r"(?im)^#.*change the password", text)
    needed = {m["name"] for m in INTERPOLATION.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}
    assert needed <= set(values), f"missing from .env.example: {needed - set(values)}"
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ".env" in ignored or "/.env" in ignored


def test_stack_refuses_the_example_credentials() -> None:
    """Compose refuses the file (every command, every service) with .env.example as it is: the
    empty password and Flower auth hit ${...:?}; filled in, it is accepted."""
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    example = env_file_values(ENV_EXAMPLE)
    for name in ("POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"):
        with pytest.raises(Refused, match=name):
            interpolate(text, {**example_with_secrets(), name: example[name]})
    interpolate(text, example_with_secrets())


def test_watch_refuses_a_placeholder_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """`newsingest watch` exits 2 before connecting when the store URL's password is a
    placeholder (an old .env with change-me): a stack never runs on a written-down password."""
    for placeholder in sorted(worker.cli.PLACEHOLDER_PASSWORDS):
        url = f"postgresql+psycopg://newsingest:{placeholder}@127.0.0.1:1/newsingest"
        result = CliRunner().invoke(app, ["--store-url", url, "watch"])
        assert result.exit_code == 2, result.output


def test_worker_refuses_a_placeholder_password(tmp_path: Path) -> None:
    """`newsingest worker` too (a process of its own: it must configure billiard first)."""
    url = "postgresql+psycopg://newsingest:change-me@127.0.0.1:1/newsingest"
    result = subprocess.run(
        [sys.executable, "-m", "worker", "--store-url", url, "--data-dir", str(tmp_path), "worker"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "config.placeholder_password" in result.stderr


def test_host_override_keeps_off_the_machines_servers() -> None:
    """docker/test/compose.host.yml (the smoke test's): every service on the host network, the
    local images instead of registry ones, Redis and PostgreSQL on loopback ports other than
    6379 / 5432, and the app's URLs on those same ports."""
    override = yaml.safe_load(HOST_OVERRIDE.read_text(encoding="utf-8"))["services"]
    base = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]
    # flower: a copy (flower-smoke) instead of an override, since 1.29 refuses ports on the
    # host network and an override cannot remove the main file's ports
    assert set(override) == set(base) - {"flower"} | {"flower-smoke"}
    for name, service in override.items():
        assert service.get("network_mode") == "host", name
    for name in ("redis", "postgres", "watcher", "worker"):
        assert str(override[name]["image"]).startswith("newsingest"), name
    redis_argv = as_argv(override["redis"]["command"])
    redis_port = redis_argv[redis_argv.index("--port") + 1]
    assert redis_argv[redis_argv.index("--bind") + 1] == "127.0.0.1"
    pg_port = str(override["postgres"]["environment"]["PGPORT"])
    assert {redis_port, pg_port}.isdisjoint({"6379", "5432"})
    assert f"-p {pg_port}" in " ".join(override["postgres"]["healthcheck"]["test"])
    assert redis_port in override["redis"]["healthcheck"]["test"]
    assert [n for n, s in override.items() if "build" in s] == ["watcher"]
    assert override["watcher"]["image"] == override["worker"]["image"]
    for name in APP_SERVICES:
        env = environment(override[name])
        assert env["NEWSINGEST_BROKER_URL"] == f"redis://127.0.0.1:{redis_port}/0"
        assert f"@127.0.0.1:{pg_port}/" in env["NEWSINGEST_STORE_URL"]
    flower, copy = base["flower"], override["flower-smoke"]
    assert copy["profiles"] and copy["profiles"] != flower["profiles"]  # never up by accident
    assert environment(copy)["FLOWER_BASIC_AUTH"] == environment(flower)["FLOWER_BASIC_AUTH"]
    assert f"--broker=redis://127.0.0.1:{redis_port}/0" in as_argv(copy["command"])
    port = next(a for a in as_argv(copy["command"]) if a.startswith("--port=")).split("=")[1]
    check = " ".join(copy["healthcheck"]["test"])
    assert check.replace(f"127.0.0.1:{port}", "localhost:5555") == " ".join(
        flower["healthcheck"]["test"]
    )


# --- the image --------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            rows.append((keyword.upper(), rest.strip()))
    return rows


def test_dockerfile_builds_the_cli_as_non_root() -> None:
    """FROM a build argument whose default is python:3.11-slim, a venv, `pip install -c
    constraints.txt .` (the lock), a non-root USER, and ENTRYPOINT the `newsingest` script that
    pyproject.toml declares."""
    rows = dockerfile_instructions()
    assert rows[0] == ("ARG", "BASE_IMAGE=python:3.11-slim")
    assert rows[1] == ("FROM", "${BASE_IMAGE}")
    assert any(k == "RUN" and "python3 -m venv /opt/venv" in v for k, v in rows)
    assert any(k == "ENV" and "PATH=/opt/venv/bin:$PATH" in v for k, v in rows)
    installs = [v for k, v in rows if k == "RUN" and "pip install" in v]
    assert installs and all("pip install -c constraints.txt ." in v for v in installs)
    users = [v for k, v in rows if k == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0")
    entrypoints = [v for k, v in rows if k == "ENTRYPOINT"]
    assert entrypoints and entrypoints[-1] == '["newsingest"]'
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "scripts"
    ]
    assert "newsingest" in scripts


def test_dockerfile_copies_what_pip_install_needs() -> None:
    """Each COPY source exists in the repo and is not excluded by .dockerignore, and pyproject's
    readme and package are among them."""
    ignore = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources: list[str] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "COPY":
            parts = [p for p in rest.split() if not p.startswith("--")]
            sources += [p.rstrip("/") for p in parts[:-1]]
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repo"
        excluded = [p for p in ignore if not p.startswith("!") and fnmatch(source, p.rstrip("/"))]
        assert not excluded, f"COPY {source} is excluded by .dockerignore {excluded}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert {"pyproject.toml", project["readme"], "worker", "config"} <= set(sources)
    assert "constraints.txt" in sources
