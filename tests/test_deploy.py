"""The Docker deployment without a Docker daemon: docker-compose.yml, the Dockerfile and .dockerignore
read as Compose and Docker read them and checked against server/settings.py, pyproject.toml and the
README; the healthchecks run against real servers; and the image's Python environment built from
exactly what the Dockerfile COPYs (its package installed from a wheel into a fresh environment, its
CMD started there, answering about the bundled sample article)."""

from __future__ import annotations

import email.parser
import importlib.metadata
import json
import os
import posixpath
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import httpx
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from bench.common import chroma_server, free_port, wait_until_up
from server.settings import Settings
from tests.conftest import SAMPLE_ID
from tests.deploy_files import (
    ROOT,
    Instruction,
    compose,
    copy_sources,
    dockerfile,
    env_of,
    environment,
    healthcheck,
    ignored,
    interpolated_names,
    setting_names,
)
from tests.test_api import ask

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
# What docker-compose.yml decides for the app rather than leaving to the settings' defaults.
DECIDED_BY_COMPOSE = {"ARTICLECHAT_CHROMA_HOST", "ARTICLECHAT_CHROMA_PORT", "ARTICLECHAT_ALLOWED_HOSTS"}


def readme_docker_section() -> str:
    return README.split("\n### Docker\n", 1)[1].split("\n## ", 1)[0]


def test_services_images_and_profiles():
    services = compose()["services"]
    assert set(services) == {"chroma", "articlechat", "llm"}
    assert services["chroma"]["image"].startswith("chromadb/chroma:")
    assert services["articlechat"]["build"] == "."
    assert services["llm"]["image"] == "ghcr.io/ggml-org/llama.cpp:server"
    # Only the model server is optional.
    assert services["llm"]["profiles"] == ["llm"]
    assert "profiles" not in services["chroma"] and "profiles" not in services["articlechat"]
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name


def test_chroma_server_image_is_the_version_of_the_pinned_client():
    tag = compose()["services"]["chroma"]["image"].split(":", 1)[1]
    (pin,) = [r for r in PYPROJECT["project"]["dependencies"] if canonicalize_name(Requirement(r).name) == "chromadb"]
    assert Requirement(pin).specifier == SpecifierSet(f"=={tag}"), f"pyproject pins {pin}, the server image is {tag}"
    assert importlib.metadata.version("chromadb") == tag, "the installed client is not the server's version"
    assert f"chromadb=={tag}" in readme_docker_section()


def test_app_environment_names_are_settings_and_compose_keeps_their_defaults(monkeypatch):
    names = setting_names()
    env = environment("articlechat")
    assert set(env) <= set(names), f"not settings of server/settings.py: {set(env) - set(names)}"
    dockerfile_env = {k: v for k, v in env_of(dockerfile()).items() if k.startswith("ARTICLECHAT_")}
    assert set(dockerfile_env) <= set(names)

    for name in [n for n in os.environ if n.startswith(("ARTICLECHAT_", "OPENAI_"))]:
        monkeypatch.delenv(name)
    defaults = Settings(_env_file=None)
    for name, value in env.items():  # with no .env, what the app in the container runs with
        monkeypatch.setenv(name, value)
    in_compose = Settings(_env_file=None)
    for name in set(env) - DECIDED_BY_COMPOSE:
        field = names[name]
        assert getattr(in_compose, field) == getattr(defaults, field), f"{name}: compose's default is not the settings'"

    # Decided by compose: the Chroma service, and the names the app is reached by.
    assert in_compose.chroma_host in compose()["services"]
    assert in_compose.chroma_port == 8000  # the chroma image's port (its healthcheck asks it)
    assert set(defaults.allowed_hosts) | {"articlechat"} <= set(in_compose.allowed_hosts)


def test_ports_volumes_and_the_data_directory():
    spec = compose()
    app = spec["services"]["articlechat"]
    instructions = dockerfile()
    env = env_of(instructions)
    port = Settings.model_fields["port"].default
    # Published on the host's loopback only; the container listens on all its interfaces.
    assert app["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert env["ARTICLECHAT_HOST"] == "0.0.0.0"
    assert [i.args for i in instructions if i.keyword == "EXPOSE"] == [str(port)]
    assert "ports" not in spec["services"]["chroma"] and "ports" not in spec["services"]["llm"]
    # The data directory is the image's volume and the compose volume.
    assert [i.args for i in instructions if i.keyword == "VOLUME"] == [env["ARTICLECHAT_DATA_DIR"]]
    assert app["volumes"] == [f"articlechat-data:{env['ARTICLECHAT_DATA_DIR']}"]
    assert spec["services"]["chroma"]["volumes"] == ["chroma-data:/data"]
    assert set(spec["volumes"]) == {"chroma-data", "articlechat-data"}


def test_services_wait_for_healthy_dependencies():
    services = compose()["services"]
    for name, service in services.items():
        check = service["healthcheck"]
        assert check["test"][0] == "CMD" and check["interval"] and check["retries"], name
    depends = services["articlechat"]["depends_on"]
    assert depends["chroma"] == {"condition": "service_healthy"}
    # Waits for the model when the llm profile is on; without it there is nothing to wait for.
    assert depends["llm"] == {"condition": "service_healthy", "required": False}
    # The app's check is the image's, the same command on the same schedule, and needs no curl.
    options, command = healthcheck(dockerfile())
    app_check = services["articlechat"]["healthcheck"]
    assert app_check["test"] == ["CMD", *command]
    assert {key: str(value) for key, value in app_check.items() if key != "test"} == options
    assert command[0] == "python" and "/healthz" in command[-1]


def test_the_llm_profile_is_wired_through_openai_base_url():
    llm = compose()["services"]["llm"]
    option = dict(zip(llm["command"][::2], llm["command"][1::2], strict=True))
    port = option["--port"]
    assert llm["healthcheck"]["test"] == ["CMD", "curl", "-fsS", f"http://127.0.0.1:{port}/health"]
    # The model file: read-only from a directory beside the compose file, kept out of git and the image.
    (volume,) = llm["volumes"]
    host_dir, container_dir, mode = volume.split(":")
    assert mode == "ro" and posixpath.dirname(option["--model"]) == container_dir
    model_file = posixpath.normpath(posixpath.join(host_dir, posixpath.basename(option["--model"])))
    assert f"/{posixpath.dirname(model_file)}/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()
    assert ignored(model_file)
    # The README's .env lines for the profile: the service by name, the port it listens on, its alias.
    section = readme_docker_section()
    assert f"`{model_file}`" in section
    assert f"OPENAI_BASE_URL=http://llm:{port}/v1" in section
    assert f"ARTICLECHAT_LLM_MODEL={option['--alias']}" in section
    assert 'CMAKE_ARGS="-DGGML_NATIVE=OFF"' in (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


def test_host_gateway_lets_the_app_reach_an_llm_on_the_linux_host():
    assert compose()["services"]["articlechat"]["extra_hosts"] == ["host.docker.internal:host-gateway"]
    assert "host-gateway" in readme_docker_section()


def test_dockerfile_runs_unprivileged_and_lean():
    instructions = dockerfile()
    base = instructions[0]
    assert base.keyword == "FROM"
    image_python = re.fullmatch(r"python:(\d+\.\d+)-slim", base.args)
    assert image_python, base.args
    assert SpecifierSet(PYPROJECT["project"]["requires-python"]).contains(image_python[1])
    (user,) = [i.args for i in instructions if i.keyword == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    env = env_of(instructions)
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PIP_NO_CACHE_DIR"] == "1"
    assert "HEALTHCHECK" in [i.keyword for i in instructions]
    assert instructions[-1].exec_form() == ["articlechat", "serve"]
    # The dependencies are installed before the source is copied, so that a code change reuses them.
    deps = next(n for n, i in enumerate(instructions) if i.keyword == "RUN" and "requirements.txt" in i.args)
    assert copy_sources(instructions[:deps]) == ["pyproject.toml"]
    assert copy_sources(instructions) == ["pyproject.toml", "README.md", "server", "index", "ui"]


def test_dockerfile_installs_what_the_readme_installs():
    # README, quick start: `pip install -e .`, the project with no extras.
    quick_start = README.split("## Quick start", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    assert re.search(r"pip install -e \.(\s|$)", quick_start), quick_start
    # The Dockerfile: [project].dependencies (no optional ones), then the project itself without them.
    # test_the_image_environment_builds_and_answers runs the first step and compares with the wheel.
    runs = [i.args for i in dockerfile() if i.keyword == "RUN"]
    assert any("['project']['dependencies']" in run and "pip install -r" in run for run in runs)
    assert any(re.search(r"pip install --no-deps \.(\s|$)", run) for run in runs)
    assert not any("optional-dependencies" in run or re.search(r"\.\[", run) for run in runs)


# What a checkout holds after the quick start, the tests and the llm profile, none of it for the image.
NOT_FOR_THE_IMAGE = [
    ".venv/bin/python", ".git", ".git/HEAD", "data/chroma.sqlite3", "test-output/screenshots/ui.png",
    ".pytest_cache/v/cache", ".mypy_cache/3.11/x.json", ".ruff_cache/0.8/x", ".hypothesis/examples/x",
    "server/__pycache__/cli.cpython-311.pyc", "index/__pycache__/ingest.cpython-311.pyc",
    "server/routers/__pycache__/health.cpython-311.pyc", "articlechat.egg-info/PKG-INFO", "build/lib/server/cli.py",
    ".env", "models/model.gguf", "bench/results/eval.json", "tests/conftest.py",
]


def test_dockerignore_keeps_out_all_but_what_the_dockerfile_copies():
    assert [path for path in NOT_FOR_THE_IMAGE if not ignored(path)] == []
    git = ["git", "ls-files", "--", *copy_sources(dockerfile())]
    tracked = subprocess.run(git, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert "index/data/ukraine-russia-prisoner-exchange.txt" in tracked and "ui/static/index.html" in tracked
    assert [path for path in tracked if ignored(path)] == []


def test_readme_documents_the_compose_variables():
    section = readme_docker_section()
    for name in interpolated_names():
        assert name in section, f"{name} (docker-compose.yml) is not in the README's Docker section"
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assigned = {m[1] for block in blocks for m in re.finditer(r"^([A-Z_]+)=", block, re.M)}
    assert assigned, "the README's Docker section shows no .env lines"
    assert assigned <= set(setting_names()) | {"COMPOSE_PROFILES"}, assigned - set(setting_names())
    for command in ("docker compose up --build", "docker compose --profile llm up"):
        assert command in section


def test_chroma_healthcheck_answers_for_a_real_chroma_server():
    check = compose()["services"]["chroma"]["healthcheck"]["test"][1:]
    assert check[:2] == ["bash", "-c"] and "/dev/tcp/127.0.0.1/8000" in check[2]
    with chroma_server() as port:
        assert _run_check(check, "/8000", f"/{port}") == 0
    assert _run_check(check, "/8000", f"/{free_port()}") != 0


def _run_check(command: list[str], old: str, new: str) -> int:
    """A healthcheck command with the port it asks replaced (the test's servers are not on 8000)."""
    return subprocess.run([part.replace(old, new) for part in command], capture_output=True, timeout=30).returncode


def test_the_image_environment_builds_and_answers(tmp_path):
    """The Dockerfile's Python steps, without Docker: its COPYs (through .dockerignore) into an empty
    WORKDIR, the requirements its first RUN computes, its `pip install --no-deps .` as a wheel
    installed into a fresh environment that sees the test venv's packages but not the checkout's, and
    its CMD started there."""
    workdir = tmp_path / "app"
    requirements: list[str] = []
    wheel: Path | None = None
    image_workdir = None
    for ins in dockerfile():
        if ins.keyword == "WORKDIR":
            image_workdir = ins.args
        elif ins.keyword == "COPY":
            assert image_workdir is not None
            _copy(ins, workdir, image_workdir)
        elif ins.keyword == "RUN" and "requirements.txt" in ins.args:
            requirements = _run_requirements_step(ins, workdir)
        elif ins.keyword == "RUN" and "pip install --no-deps ." in ins.args:
            wheel = _build_wheel(workdir, tmp_path / "dist")
    assert requirements and wheel is not None

    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = email.parser.Parser().parsestr(archive.read("articlechat-0.1.0.dist-info/METADATA").decode())
    assert "index/data/ukraine-russia-prisoner-exchange.txt" in names and "ui/static/index.html" in names
    web_ui = {f"ui/static/{file.name}" for file in (ROOT / "ui" / "static").iterdir()}
    assert web_ui <= set(names), f"the web UI would miss {sorted(web_ui - set(names))}"  # its modules, its icon
    installs = [r for r in metadata.get_all("Requires-Dist") or [] if "extra ==" not in r]
    assert _requirement_keys(requirements) == _requirement_keys(installs), "the image installs other dependencies"

    venv = tmp_path / "venv"
    site = _environment_with_the_wheel(venv, wheel)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARTICLECHAT_", "OPENAI_", "PYTHON"))}
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import json, server.cli, index, ui; "
                            "print(json.dumps([server.cli.__file__, index.__file__, ui.__file__]))"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    for module_file in json.loads(probe.stdout):
        assert Path(module_file).is_relative_to(site), f"imported from {module_file}, not from the wheel"

    # The image's ENV and CMD, on 127.0.0.1 and a free port, the data directory in tmp. Bytecode is
    # written here (the image does not) as evidence of which files the server process imported.
    port = free_port()
    image_env = env_of(dockerfile())
    del image_env["PYTHONDONTWRITEBYTECODE"]
    env |= image_env | {"ARTICLECHAT_HOST": "127.0.0.1", "ARTICLECHAT_PORT": str(port),
                        "ARTICLECHAT_DATA_DIR": str(tmp_path / "data"),
                        "PATH": f"{venv / 'bin'}{os.pathsep}{env['PATH']}"}
    command = dockerfile()[-1].exec_form()
    assert command is not None
    executable = shutil.which(command[0], path=env["PATH"])
    assert executable == str(venv / "bin" / "articlechat")
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([executable, *command[1:]], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/healthz", proc, timeout=180)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as api:
            health = api.get("/healthz").json()
            assert health["articles"] == 1 and health["answer_mode"] == "extractive"  # the sample, from the wheel
            body = ask(api, "Who arranged the reception centers for returning prisoners?")
        assert body["answered"] and body["citations"][0]["article_id"] == SAMPLE_ID
        assert body["citations"][0]["section"] == "Operation of the Prisoner Exchange > Location and Logistics"
        assert "temporary reception centers" in body["answer"]
        assert list((site / "server" / "routers" / "__pycache__").glob("health.*.pyc")), "the server ran other code"

        # The image's healthcheck (compose's is the same command) passes, and fails with nothing listening.
        check = [str(venv / "bin" / "python"), *healthcheck(dockerfile())[1][1:]]
        assert subprocess.run(check, env=env, capture_output=True, timeout=30).returncode == 0
        closed = env | {"ARTICLECHAT_PORT": str(free_port())}
        assert subprocess.run(check, env=closed, capture_output=True, timeout=30).returncode != 0
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def _copy(ins: Instruction, workdir: Path, image_workdir: str) -> None:
    """COPY src... dest, relative to the WORKDIR, of the build context as .dockerignore leaves it."""
    *sources, dest = shlex.split(ins.args)
    target = posixpath.relpath(posixpath.join(image_workdir, dest), image_workdir)
    assert not target.startswith(".."), f"COPY outside the WORKDIR: {ins.args}"
    for source in sources:
        assert not ignored(source), f"COPY {source}: .dockerignore leaves it out of the context"
        path = ROOT / source
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if not ignored(file.relative_to(ROOT).as_posix()):
                    out = workdir / target / file.relative_to(path)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, out)
        else:
            out = workdir / target / path.name if dest.endswith("/") else workdir / target
            out.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, out)


def _run_requirements_step(ins: Instruction, workdir: Path) -> list[str]:
    """The `python -c ...` of the dependency step, run where it runs: only what was copied before it."""
    words = shlex.split(ins.args)
    code = words[words.index("-c", words.index("python")) + 1]
    out = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, check=True)
    return out.stdout.splitlines()


def _build_wheel(workdir: Path, dist: Path) -> Path:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                    "--quiet", "--wheel-dir", str(dist), "."], cwd=workdir, check=True, capture_output=True)
    (wheel,) = dist.glob("articlechat-*.whl")
    return wheel


def _requirement_keys(lines: list[str]) -> set[tuple[str, frozenset[str], str, str]]:
    keys = set()
    for line in lines:
        req = Requirement(line)
        keys.add((canonicalize_name(req.name), frozenset(req.extras), str(req.specifier), str(req.marker or "")))
    return keys


def _environment_with_the_wheel(venv: Path, wheel: Path) -> Path:
    """A new venv with the wheel installed, and the test venv's site-packages on its path (a .pth line:
    that directory's own .pth files, among them the editable install of the checkout, are not read).
    Returns the new venv's site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # pip of the test venv installs into the new one (--python); before the .pth, so it sees nothing there.
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "--no-index", "--no-compile", "--quiet", str(wheel)], check=True, capture_output=True)
    (site,) = venv.glob("lib/python*/site-packages")
    dependencies = dict.fromkeys(sysconfig.get_paths()[kind] for kind in ("purelib", "platlib"))
    (site / "test-venv-dependencies.pth").write_text("".join(f"{path}\n" for path in dependencies), encoding="utf-8")
    return site
