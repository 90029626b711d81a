#!/usr/bin/env python3
"""The compose stack, started and tested for real: build, up, drop, scale, down in flight, up.

    sudo python3 docker/test/smoke.py            # from anywhere; standard library only

1. A Docker engine: installs docker.io, docker-compose and debootstrap with apt-get when they are
   missing (and it can), starts dockerd when none answers (no bridge, no iptables, host
   networking only, its own data root), and stops the dockerd it started at the end.
2. Images, with no registry: a Debian base by debootstrap (once: kept as newsingest-base:bookworm),
   Python, Redis and PostgreSQL on it (docker/test/*.Dockerfile), then the stack's newsingest
   image through compose (built by the watcher service only).
3. docker-compose.yml + docker/test/compose.host.yml, project newsingest-smoke, Redis on
   127.0.0.1:16379 and PostgreSQL on 127.0.0.1:15432 (never the machine's own 6379 / 5432):
   up, every service healthy, a dump of our own dropped into the watcher's inbox and its records
   read back with `newsingest articles`; --scale worker=2 (distinct Celery node names, running
   containers not recreated, an idle worker stops within seconds); Flower through its profile
   (healthy, 401 without the basic auth of .env, both workers seen with it); more dumps, `down`
   while they are in flight, `up`, and every article of every dump stored exactly once; `down -v`.

Exit status 0 on success, 1 on a failure (with the containers' logs), 77 when the test cannot
run here (no apt-get, no privileges to start dockerd...): .ci/run then says it was skipped.
docker-compose 1.29 and compose v2 both work: `docker compose` when it exists, else
`docker-compose`. A .env of the repository is set aside while the test runs and put back after.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
from tests.dumps import Story, render_dump  # noqa: E402  (stdlib only: our own articles)

PROJECT = "newsingest-smoke"
COMPOSE_FILES = [ROOT / "docker-compose.yml", HERE / "compose.host.yml"]
BASE_IMAGE = "newsingest-base:bookworm"
LOCAL_IMAGES = {  # tag -> Dockerfile in docker/test/
    "newsingest-python:bookworm": "python.Dockerfile",  # first: flower.Dockerfile builds on it
    "newsingest-flower:bookworm": "flower.Dockerfile",
    "newsingest-redis:bookworm": "redis.Dockerfile",
    "newsingest-postgres:bookworm": "postgres.Dockerfile",
}
DATA_ROOT = "/var/lib/newsingest-docker"
DOCKERD_LOG = "/var/log/newsingest-dockerd.log"
SKIP = 77
START = time.monotonic()


class Skip(Exception):
    """The test cannot run on this machine (not a failure of the stack)."""


class Failed(Exception):
    """The stack did not do what it should."""


def step(message: str) -> None:
    print(f"[smoke {time.monotonic() - START:6.1f}s] {message}", flush=True)


def run(
    argv: list[str], *, check: bool = True, capture: bool = False, timeout: float = 900, **kw
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        text=True,
        capture_output=capture,
        timeout=timeout,
        **kw,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-3000:] if capture else ""
        raise Failed(f"exit {result.returncode}: {' '.join(argv)}\n{detail}")
    return result


def output(argv: list[str], **kw) -> str:
    return run(argv, capture=True, **kw).stdout


# --- the engine -------------------------------------------------------------------------------


def engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return run(["docker", "info"], check=False, capture=True, timeout=30).returncode == 0


def apt_install(packages: list[str]) -> None:
    if not shutil.which("apt-get"):
        raise Skip(f"no apt-get to install {', '.join(packages)}")
    if os.geteuid() != 0:
        raise Skip(f"not root: cannot install {', '.join(packages)}")
    step(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if run(["apt-get", "update", "-q"], check=False, capture=True, env=env).returncode != 0:
        raise Skip("apt-get update failed (no package archive reachable)")
    result = run(["apt-get", "install", "-y", "-q", *packages], check=False, capture=True, env=env)
    if result.returncode != 0:
        raise Skip(f"apt-get install {' '.join(packages)} failed: {result.stderr.strip()[-300:]}")


def ensure_engine() -> subprocess.Popen[bytes] | None:
    """A Docker engine that answers, and compose; the dockerd started here, if any."""
    packages = []
    if not engine_answers() and not shutil.which("dockerd"):
        packages.append("docker.io")
    if compose_command() is None:
        packages.append("docker-compose")
    if packages:
        apt_install(packages)
    if engine_answers():
        step("docker engine answers")
        return None
    if not shutil.which("dockerd"):
        raise Skip("no dockerd, and none answering")
    if os.geteuid() != 0:
        raise Skip("not root: cannot start dockerd")
    step(f"starting dockerd (data root {DATA_ROOT}, log {DOCKERD_LOG})")
    Path(DATA_ROOT).mkdir(parents=True, exist_ok=True)
    log = open(DOCKERD_LOG, "ab")  # noqa: SIM115  (the daemon's stderr for its whole life)
    daemon = subprocess.Popen(
        [
            "dockerd",
            "--bridge=none",
            "--iptables=false",
            "--ip-masq=false",
            f"--data-root={DATA_ROOT}",
            "--host=unix:///var/run/docker.sock",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            tail = Path(DOCKERD_LOG).read_text(errors="replace")[-1500:]
            raise Skip(f"dockerd exited with {daemon.returncode}:\n{tail}")
        if engine_answers():
            step(f"dockerd {daemon.pid} answers")
            return daemon
        time.sleep(1)
    daemon.terminate()
    raise Skip("dockerd did not answer within 60 s")


def stop_engine(daemon: subprocess.Popen[bytes] | None) -> None:
    if daemon is None or daemon.poll() is not None:
        return
    step(f"stopping the dockerd started here ({daemon.pid})")
    daemon.terminate()
    try:
        daemon.wait(timeout=60)
    except subprocess.TimeoutExpired:
        daemon.kill()


def compose_command() -> list[str] | None:
    """compose v2 (`docker compose`) when it exists, else docker-compose (1.29)."""
    if shutil.which("docker"):
        probe = run(["docker", "compose", "version"], check=False, capture=True, timeout=30)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


# --- the images -------------------------------------------------------------------------------


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], check=False, capture=True).returncode == 0


def debian_mirror() -> str:
    """The machine's Debian mirror, from /etc/apt/sources.list and sources.list.d."""
    candidates: list[str] = []
    paths = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in paths:
        if not path.is_file() or not path.name.endswith((".list", ".sources")):
            continue
        for line in path.read_text(errors="replace").splitlines():
            words = line.split()
            if line.startswith("deb ") and len(words) >= 3:
                candidates += [w for w in words[1:] if w.startswith(("http://", "https://"))][:1]
            elif line.startswith("URIs:"):
                candidates += words[1:]
    for url in candidates:
        if "security" not in url:
            return url.rstrip("/")
    return "http://deb.debian.org/debian"


def build_images() -> None:
    if image_exists(BASE_IMAGE):
        step(f"{BASE_IMAGE} exists (no debootstrap)")
    else:
        if not shutil.which("debootstrap"):
            apt_install(["debootstrap"])
        mirror = debian_mirror()
        step(f"debootstrap --variant=minbase bookworm from {mirror}")
        with tempfile.TemporaryDirectory(prefix="newsingest-base-") as tmp:
            rootfs = Path(tmp) / "rootfs"
            run(["debootstrap", "--variant=minbase", "bookworm", str(rootfs), mirror], capture=True)
            step(f"importing {BASE_IMAGE}")
            tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
            run(["docker", "import", "-", BASE_IMAGE], stdin=tar.stdout, capture=True)
            if tar.wait() != 0:
                raise Failed("tar of the base rootfs failed")
    ca_bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    for tag, dockerfile in LOCAL_IMAGES.items():
        step(f"building {tag} ({dockerfile})")
        with tempfile.TemporaryDirectory(prefix="newsingest-ctx-") as ctx:
            shutil.copy2(HERE / dockerfile, Path(ctx) / "Dockerfile")
            shutil.copy2(HERE / "postgres-entrypoint.sh", Path(ctx) / "postgres-entrypoint.sh")
            # the machine's CA bundle, so that apt and pip in later builds trust what it trusts
            if ca_bundle.is_file():
                shutil.copy2(ca_bundle, Path(ctx) / "ca-certificates.crt")
            else:
                (Path(ctx) / "ca-certificates.crt").write_text("")
            run(
                [
                    "docker",
                    "build",
                    "-q",
                    "--network=host",
                    "-t",
                    tag,
                    "-f",
                    f"{ctx}/Dockerfile",
                    ctx,
                ],
                capture=True,
            )


# --- the stack --------------------------------------------------------------------------------


class Stack:
    def __init__(self, compose: list[str]) -> None:
        files = [arg for path in COMPOSE_FILES for arg in ("-f", str(path))]
        self.base = [*compose, *files, "-p", PROJECT]

    def __call__(self, *args: str, **kw) -> subprocess.CompletedProcess[str]:
        return run([*self.base, *args], cwd=ROOT, **kw)

    def ids(self, service: str | None = None) -> list[str]:
        argv = [
            "docker",
            "ps",
            "-q",
            "--no-trunc",
            "--filter",
            f"label=com.docker.compose.project={PROJECT}",
        ]
        if service:
            argv += ["--filter", f"label=com.docker.compose.service={service}"]
        return sorted(output(argv).split())

    def wait_healthy(self, expected: int, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            ids = self.ids()
            states = {}
            for cid in ids:
                name, status = output(
                    [
                        "docker",
                        "inspect",
                        "-f",
                        "{{.Name}} {{if .State.Health}}{{.State.Health.Status}}"
                        "{{else}}{{.State.Status}}{{end}}",
                        cid,
                    ]
                ).split()
                states[name.lstrip("/")] = status
            if len(states) == expected and all(s == "healthy" for s in states.values()):
                return
            time.sleep(2)
        raise Failed(f"not all {expected} containers healthy after {timeout:.0f} s: {states}")

    def newsingest(self, *args: str, service: str = "worker") -> str:
        return self("exec", "-T", service, "newsingest", *args, capture=True).stdout

    def articles(self) -> list[dict]:
        text = self.newsingest("articles", "--all")
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def status(self) -> dict:
        return json.loads(self.newsingest("status", "--json"))

    def drop(self, files: dict[str, str]) -> None:
        """Copy these files (name -> text) into the watcher's inbox, in one `docker cp`."""
        watcher = self.ids("watcher")[0]
        with tempfile.TemporaryDirectory(prefix="newsingest-drop-") as tmp:
            folder = Path(tmp) / "drop"
            folder.mkdir()
            for name, text in files.items():
                (folder / name).write_text(text, encoding="utf-8")
                (folder / name).chmod(0o644)
            run(["docker", "cp", f"{folder}/.", f"{watcher}:/srv/inbox/"], capture=True)


# --- our dumps --------------------------------------------------------------------------------

WORDS = (  # noqa: SIM905  (a paragraph of words reads better than a list literal)
    "harbour council ferry orchard valley library bridge river market school station tram "
    "harvest museum garden festival bakery mill quarry lighthouse island canal workshop "
    "meadow forest village tower square fountain theatre stadium clinic archive harbourmaster "
    "engineer teacher farmer painter driver nurse baker fisher miller weaver carpenter mason "
    "voted opened repaired delayed announced welcomed planted measured counted painted built "
    "closed extended moved restored praised questioned funded visited crossed launched "
    "quietly early late again nearly mostly slowly warmly briefly openly "
    "new old long short wide narrow busy calm bright dark green stony wooden northern southern"
).split()


def story(file_number: int, number: int) -> Story:
    """A story of our own, different from every other (random words: no near duplicates)."""
    rng = random.Random(f"{file_number}-{number}")

    def sentence() -> str:
        words = [rng.choice(WORDS) for _ in range(rng.randint(12, 20))]
        return " ".join(words).capitalize() + "."

    paragraphs = tuple(" ".join(sentence() for _ in range(3)) for _ in range(3))
    title = f"Smoke file {file_number} story {number}: {rng.choice(WORDS)} {rng.choice(WORDS)}"
    return Story(
        title=title.title(),
        caption=f"A {rng.choice(WORDS)} seen from the {rng.choice(WORDS)}.",
        credit=rng.choice(("AP", "AFP", "Reuters")),
        paragraphs=paragraphs,
    )


ARTICLES_IN_FLIGHT = 25  # a file's enrichment takes about a second: `down` finds work to stop


def dump(file_number: int, stories: int) -> tuple[str, list[str]]:
    chosen = [story(file_number, n) for n in range(1, stories + 1)]
    return render_dump(chosen), [s.title for s in chosen]


def wait_for_articles(stack: Stack, titles: list[str], files: int, timeout: float) -> None:
    """Until the store holds exactly these titles, each once, and every file is done."""
    deadline = time.monotonic() + timeout
    got: list[str] = []
    while time.monotonic() < deadline:
        records = stack.articles()
        got = [r["title"] for r in records]
        status = stack.status()
        if len(got) >= len(titles) and status["files"].get("done", 0) >= files:
            break
        time.sleep(2)
    else:
        raise Failed(f"{len(got)} of {len(titles)} articles after {timeout:.0f} s: {status}")
    doubled = sorted({t for t in got if got.count(t) > 1})
    missing = sorted(set(titles) - set(got))
    extra = sorted(set(got) - set(titles))
    if doubled or missing or extra or len(got) != len(titles):
        raise Failed(f"articles: missing {missing}, doubled {doubled}, unexpected {extra}")
    if status["files"].get("done") != files or status["files"].get("failed"):
        raise Failed(f"files: {status['files']} (expected {files} done)")
    for record in records:
        if record["duplicate_of"] is not None or len(record["sources"]) != 1:
            raise Failed(f"{record['title']}: duplicate_of/sources {record['sources']}")


# --- the test ---------------------------------------------------------------------------------


def smoke(stack: Stack, files_in_flight: int) -> dict[str, float]:
    timings: dict[str, float] = {}
    t = time.monotonic()
    step("compose build (the watcher service builds newsingest:smoke)")
    stack("build", capture=True)
    timings["build"] = time.monotonic() - t

    t = time.monotonic()
    step("compose up -d")
    stack("up", "-d", capture=True)
    stack.wait_healthy(expected=4)
    timings["up_healthy"] = time.monotonic() - t
    step(f"4 services healthy in {timings['up_healthy']:.1f} s")

    text, titles = dump(1, 3)
    step("dropping smoke-1.txt (3 articles) into the watcher's inbox")
    stack.drop({"smoke-1.txt": text})
    t = time.monotonic()
    wait_for_articles(stack, titles, files=1, timeout=120)
    timings["first_file"] = time.monotonic() - t
    step(f"3 records stored, titles as dropped ({timings['first_file']:.1f} s)")

    before = stack.ids()
    step("up -d --scale worker=2")
    stack("up", "-d", "--scale", "worker=2", capture=True)
    stack.wait_healthy(expected=5)
    after = stack.ids()
    if not set(before) <= set(after):
        raise Failed(f"running containers recreated by --scale: {set(before) - set(after)}")
    workers = stack.ids("worker")
    nodes = [
        output(["docker", "exec", cid, "cat", "/tmp/newsingest-worker.node"]).strip()
        for cid in workers
    ]
    if len(workers) != 2 or len(set(nodes)) != 2:
        raise Failed(f"worker node names not distinct: {nodes}")
    step(f"2 workers, nodes {nodes}, no running container recreated")

    t = time.monotonic()
    flower(stack, nodes)
    timings["flower"] = time.monotonic() - t

    new_worker = sorted(set(workers) - set(before))[0]
    t = time.monotonic()
    run(["docker", "stop", new_worker], capture=True)
    timings["idle_worker_stop"] = time.monotonic() - t
    step(f"an idle worker stopped in {timings['idle_worker_stop']:.1f} s (SIGTERM)")
    if timings["idle_worker_stop"] > 10:
        raise Failed(f"an idle worker took {timings['idle_worker_stop']:.1f} s to stop")
    run(["docker", "start", new_worker], capture=True)
    stack.wait_healthy(expected=5)

    all_titles = list(titles)
    step(f"dropping {files_in_flight} more dumps, then down while they are in flight")
    more_files = {}
    for number in range(2, files_in_flight + 2):
        text, more = dump(number, ARTICLES_IN_FLIGHT)
        more_files[f"smoke-{number}.txt"] = text
        all_titles += more
    stack.drop(more_files)
    # down as soon as the workers hold some of it (taken from the inbox, not yet done)
    deadline = time.monotonic() + 30
    while True:
        in_flight = stack.status()["files"]
        held = sum(n for state, n in in_flight.items() if state not in ("done", "failed"))
        if held or in_flight.get("done", 0) == files_in_flight + 1:
            break
        if time.monotonic() > deadline:
            raise Failed(f"the watcher took none of the dumps in 30 s: {in_flight}")
        time.sleep(0.2)
    if not held:
        step("(every file was done before `down`: nothing was in flight this time)")
    t = time.monotonic()
    stack("down", capture=True)
    timings["down_in_flight"] = time.monotonic() - t
    step(f"down in {timings['down_in_flight']:.1f} s with files {in_flight}")

    t = time.monotonic()
    stack("up", "-d", "--scale", "worker=2", capture=True)
    stack.wait_healthy(expected=5)
    wait_for_articles(stack, all_titles, files=files_in_flight + 1, timeout=240)
    timings["recovery"] = time.monotonic() - t
    # every record announced once on the Redis stream, through the down in flight (the relay's
    # entry ids are the outbox numbers: a re-delivery after the stop adds nothing)
    deadline = time.monotonic() + 30
    while (announced := stream_ids(stack)) != list(range(1, len(all_titles) + 1)):
        if time.monotonic() > deadline:
            raise Failed(f"stream newsingest:articles holds seqs {announced}")
        time.sleep(1)
    step(f"newsingest:articles holds {len(announced)} entries, one per record, in order")
    step(
        f"after up again: all {len(all_titles)} articles of {files_in_flight + 1} files stored "
        f"exactly once ({timings['recovery']:.1f} s)"
    )
    return timings


def stream_ids(stack: Stack) -> list[int]:
    """The announcement number of every entry of the stack's stream, read by redis-py in a
    worker container (through the worker's own broker URL)."""
    code = (
        "import json, os, redis; "
        "client = redis.Redis.from_url(os.environ['NEWSINGEST_BROKER_URL']); "
        "print(json.dumps([int(f[b'seq']) for _, f in client.xrange('newsingest:articles')]))"
    )
    return json.loads(stack("exec", "-T", "worker", "python", "-c", code, capture=True).stdout)


FLOWER_URL = "http://127.0.0.1:15555"  # docker/test/compose.host.yml


def flower(stack: Stack, nodes: list[str]) -> None:
    """Flower (compose.host.yml's copy of the flower service, see there): up through its
    profile, healthy, closed without the basic auth of .env, and showing both workers with it;
    then removed again."""
    step("--profile flower-smoke up -d flower-smoke")
    stack("--profile", "flower-smoke", "up", "-d", "flower-smoke", capture=True)
    stack.wait_healthy(expected=6)
    auth = (ROOT / ".env").read_text(encoding="utf-8").split("FLOWER_BASIC_AUTH=")[1].split()[0]
    user = auth.split(":", 1)[0]
    for credentials, expected in ((None, 401), (f"{user}:wrong", 401)):
        status = http_status(f"{FLOWER_URL}/api/workers", credentials)
        if status != expected:
            raise Failed(f"Flower answered {status} to credentials {credentials!r}")
    deadline = time.monotonic() + 60
    seen: list[str] = []
    while time.monotonic() < deadline:
        seen = sorted(json.loads(http_body(f"{FLOWER_URL}/api/workers?refresh=1", auth)))
        if set(nodes) <= set(seen):
            break
        time.sleep(2)
    else:
        raise Failed(f"Flower sees workers {seen}, not {nodes}")
    step(f"Flower healthy, 401 without its basic auth, sees workers {seen}")
    stack("--profile", "flower-smoke", "rm", "-s", "-f", "flower-smoke", capture=True)


def _request(url: str, credentials: str | None) -> urllib.request.Request:
    request = urllib.request.Request(url)
    if credentials is not None:
        token = base64.b64encode(credentials.encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return request


def http_status(url: str, credentials: str | None) -> int:
    try:
        with urllib.request.urlopen(_request(url, credentials), timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def http_body(url: str, credentials: str) -> str:
    with urllib.request.urlopen(_request(url, credentials), timeout=30) as response:
        return response.read().decode()


def swap_env(password: str) -> Path | None:
    """Write the test's .env; the repository's own, if any, is set aside (returned)."""
    env = ROOT / ".env"
    saved = ROOT / ".env.smoke-saved"
    if saved.exists():
        raise Failed(f"{saved} exists (left by an interrupted run): put it back as .env first")
    if env.exists():
        env.rename(saved)
    env.write_text(
        f"COMPOSE_PROJECT_NAME={PROJECT}\n"
        "POSTGRES_USER=newsingest\n"
        f"POSTGRES_PASSWORD={password}\n"
        "POSTGRES_DB=newsingest\n"
        f"FLOWER_BASIC_AUTH=smoke:{password}\n"
        "NEWSINGEST_LOG_LEVEL=INFO\n"
        "NEWSINGEST_CONCURRENCY=2\n",
        encoding="utf-8",
    )
    env.chmod(0o600)
    return saved if saved.exists() else None


def restore_env(saved: Path | None) -> None:
    (ROOT / ".env").unlink(missing_ok=True)
    if saved is not None:
        saved.rename(ROOT / ".env")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=6, help="dumps dropped before `down`")
    parser.add_argument("--keep", action="store_true", help="leave the stack up (no down -v)")
    options = parser.parse_args()

    daemon = None
    stack = None
    saved: Path | None = None
    swapped = False
    status = 0
    try:
        daemon = ensure_engine()
        compose = compose_command()
        if compose is None:
            raise Skip("no docker compose v2 and no docker-compose")
        step(f"compose: {' '.join(compose)} ({output([*compose, 'version']).splitlines()[0]})")
        t = time.monotonic()
        build_images()
        step(f"local images ready in {time.monotonic() - t:.1f} s")
        stack = Stack(compose)
        # what an interrupted run left
        stack("--profile", "flower-smoke", "down", "-v", check=False, capture=True)
        saved = swap_env(secrets.token_hex(12))
        swapped = True
        timings = smoke(stack, options.files)
        step("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))
        step(f"PASSED in {time.monotonic() - START:.1f} s")
    except Skip as reason:
        print(f"compose smoke test skipped: {reason}", flush=True)
        status = SKIP
    except (Failed, subprocess.TimeoutExpired, OSError, KeyError, ValueError) as error:
        print(f"compose smoke test FAILED: {error}", file=sys.stderr, flush=True)
        if stack is not None:
            logs = stack("logs", "--no-color", "--tail=150", check=False, capture=True)
            print(logs.stdout[-60000:], file=sys.stderr)
            ps = stack("ps", check=False, capture=True)
            print(ps.stdout, file=sys.stderr)
        status = 1
    finally:
        if stack is not None and not options.keep:
            step("down -v")
            stack(
                "--profile",
                "flower-smoke",
                "down",
                "-v",
                "--remove-orphans",
                check=False,
                capture=True,
            )
        if swapped:
            restore_env(saved)
        if not options.keep:
            stop_engine(daemon)
        print(f"[smoke] total {time.monotonic() - START:.1f} s, exit {status}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
