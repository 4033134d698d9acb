"""Reading the deployment files as Docker and Compose read them, for tests/test_deploy.py: the
Dockerfile's instructions, the .dockerignore rules (Docker's own matching: `*` within a path segment,
`**` across them, a rule on a directory covers what is under it, the last matching rule wins), the
compose file's `${NAME:-default}` values, and the names that server/settings.py reads."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml
from pydantic import AliasChoices

from server.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_FILE = ROOT / "docker-compose.yml"


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    args: str

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form instruction (CMD ["a", "b"]), else None."""
        return json.loads(self.args) if self.args.startswith("[") else None


def dockerfile() -> list[Instruction]:
    """The instructions, continuation lines joined and comments dropped (as Docker parses them)."""
    instructions: list[Instruction] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue  # a comment or a blank line, even inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, args = text.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip()))
    return instructions


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    """Every variable the ENV instructions set (KEY=value form)."""
    env: dict[str, str] = {}
    for ins in instructions:
        if ins.keyword == "ENV":
            env.update(pair.split("=", 1) for pair in shlex.split(ins.args))
    return env


def copy_sources(instructions: list[Instruction]) -> list[str]:
    """What the COPY instructions take from the build context, in order."""
    return [source for ins in instructions if ins.keyword == "COPY" for source in shlex.split(ins.args)[:-1]]


def healthcheck(instructions: list[Instruction]) -> tuple[dict[str, str], list[str]]:
    """The HEALTHCHECK's options in compose's spelling ({"start_period": "60s", ...}) and its command."""
    (check,) = [ins for ins in instructions if ins.keyword == "HEALTHCHECK"]
    options, _, cmd = check.args.partition("CMD ")
    command = Instruction("CMD", cmd).exec_form()
    assert command is not None, "the HEALTHCHECK runs an exec-form command"
    pairs = (option.removeprefix("--").split("=", 1) for option in options.split())
    return {key.replace("-", "_"): value for key, value in pairs}, command


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Docker's .dockerignore pattern (moby's patternmatcher) as a regular expression."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


@cache
def _ignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        rules.append((keep, _pattern_regex(pattern)))
    return rules


def ignored(path: str) -> bool:
    """Whether Docker leaves the context-relative `path` out of the build context."""
    parts = path.strip("/").split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for keep, regex in _ignore_rules():
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            result = not keep
    return result


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def environment(service: str) -> dict[str, str]:
    """A service's environment as the app sees it with no .env: `${NAME:-default}` gives its default.
    Every interpolated value must pass through the variable of its own name."""
    resolved = {}
    for key, value in compose()["services"][service].get("environment", {}).items():
        value = str(value)
        match = INTERPOLATION.fullmatch(value)
        if match:
            assert match["name"] == key, f"{key} takes the value of another variable, {match['name']}"
            value = match["default"] or ""
        assert "$" not in value, f"{key}: {value!r} is not a plain value nor ${{{key}:-default}}"
        resolved[key] = value
    return resolved


def interpolated_names() -> set[str]:
    return {match["name"] for match in INTERPOLATION.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))}


def setting_names() -> dict[str, str]:
    """Environment variable -> Settings field, for every variable server/settings.py reads."""
    prefix = Settings.model_config.get("env_prefix", "")
    names = {}
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update({choice: field_name for choice in alias.choices if isinstance(choice, str)})
        else:
            names[f"{prefix}{field_name}".upper()] = field_name
    return names
