"""User agents parsed into tool, version, OS, arch, CI and browser/bot flags.

pip and uv send JSON after their name (`pip/24.0 {"ci":true,...}`), read as PyPI's linehaul
reads it; npm and its siblings, container clients, curl, browsers and bots follow the small
rules below, each tested against real agent strings in tests/test_user_agents.py. (linehaul
itself is not a dependency: its wheel installs a top-level `tests` package that shadows ours.)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Final

# Bump when a rule changes: rows parsed by older rules are parsed again on the next refresh.
RULES_VERSION: Final = 1

_OS: Final = {
    "linux": "linux",
    "linux-gnu": "linux",
    "darwin": "macos",
    "osx": "macos",
    "macos": "macos",
    "mac os x": "macos",
    "windows": "windows",
    "win32": "windows",
    "windows_nt": "windows",
    "freebsd": "freebsd",
    "android": "android",
    "ios": "ios",
}
_ARCH: Final = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "win64": "x86_64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "x86",
    "i686": "x86",
    "ia32": "x86",
    "x86": "x86",
    "armv7l": "arm",
    "arm": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}
_PYTHON_JSON = re.compile(r"^(pip|uv)/(\S+)\s+(\{.*\})\s*$", re.DOTALL)

_BOT = re.compile(
    r"bot\b|bot/|crawler|spider|slurp|facebookexternalhit|headlesschrome|pingdom|uptimerobot|"
    r"lighthouse|python-urllib|scrapy|curl-impersonate|monitoring|statuscake",
    re.IGNORECASE,
)
_BOT_NAME = re.compile(r"([A-Za-z][\w.-]*(?:bot|crawler|spider))\b", re.IGNORECASE)
# npm, yarn, pnpm and bun: `npm/10.2.4 node/v20.11.0 linux x64 workspaces/false ci/github-actions`
_NODE_TOOL = re.compile(r"^(npm|yarn|pnpm|bun)/(\S+)", re.IGNORECASE)
_NODE_PLATFORM = re.compile(r"\bnode/v?\S+ (\w+) (\w+)")
_CI_TOKEN = re.compile(r"(?:^|\s)ci/([\w.-]+)")
# Container clients: `docker/24.0.7 go/go1.20.10 git-commit/... kernel/... os/linux arch/amd64`
_PREFIXED_TOOLS: Final = (
    (re.compile(r"^docker/(\S+)", re.IGNORECASE), "docker"),
    (re.compile(r"^containerd/v?([^\s+]+)"), "containerd"),
    (re.compile(r"^cri-o/(\S+)", re.IGNORECASE), "cri-o"),
    (re.compile(r"^libpod/(\S+)"), "podman"),
    (re.compile(r"^podman/(\S+)", re.IGNORECASE), "podman"),
    # podman, buildah and skopeo share the containers/image library and its agent.
    (re.compile(r"^containers/(\S+) \(github\.com/containers/image\)"), "podman"),
    (re.compile(r"^buildkit/v?(\S+)"), "buildkit"),
    (re.compile(r"^go-containerregistry/v?(\S+)"), "crane"),
    (re.compile(r"^Helm/v?(\S+)", re.IGNORECASE), "helm"),
    (re.compile(r"^kubelet/v?(\S+)"), "kubelet"),
    (re.compile(r"^curl/(\S+)", re.IGNORECASE), "curl"),
    (re.compile(r"^Wget/(\S+)", re.IGNORECASE), "wget"),
    (re.compile(r"^aria2/(\S+)"), "aria2"),
    (re.compile(r"^cabal-install/(\S+)"), "cabal"),
    (re.compile(r"^stack/(\S+)"), "stack"),
    (re.compile(r"^uv/(\S+)"), "uv"),  # uv before 0.1.22 sent no JSON
    (re.compile(r"^pip/(\S+)"), "pip"),  # pip before 6: `pip/1.5.6 CPython/2.7.6 Linux/3.13`
    (re.compile(r"^poetry/(\S+)"), "poetry"),
    (re.compile(r"^pdm/(\S+)"), "pdm"),
    (re.compile(r"^conda/(\S+)"), "conda"),
    (re.compile(r"^mamba/(\S+)"), "mamba"),
    (re.compile(r"^pixi/(\S+)"), "pixi"),
    (re.compile(r"^twine/(\S+)"), "twine"),
    (re.compile(r"^pex/(\S+)"), "pex"),
    (re.compile(r"^pipenv/(\S+)"), "pipenv"),
    (re.compile(r"^hatch/(\S+)"), "hatch"),
    (re.compile(r"^bandersnatch/(\S+)"), "bandersnatch"),
    (re.compile(r"^devpi-server/(\S+)"), "devpi"),
    (re.compile(r"^Artifactory/(\S+)"), "artifactory"),
    (re.compile(r"^Nexus/(\S+)"), "nexus"),
    (re.compile(r"^Homebrew/(\S+)"), "homebrew"),
    (re.compile(r"^axios/(\S+)"), "axios"),
    (re.compile(r"^node-fetch(?:/(\S+))?"), "node-fetch"),
    (re.compile(r"^undici(?:/(\S+))?"), "undici"),
    (re.compile(r"^okhttp/(\S+)"), "okhttp"),
    (re.compile(r"^Java/(\S+)"), "java"),
    (re.compile(r"^python-requests/(\S+)"), "python-requests"),
    (re.compile(r"^python-httpx/(\S+)"), "python-httpx"),
    (re.compile(r"^Python-urllib/(\S+)"), "python-urllib"),
)
# The go command and most Go programs send Go's default agent; its number is HTTP's, not Go's.
_GO_HTTP = re.compile(r"^Go-http-client/")
_GO_OS = re.compile(r"\bos/(\w+)")
_GO_ARCH = re.compile(r"\barch/(\w+)")
_PAREN_PLATFORM = re.compile(r"\((\w[\w-]*); ?(\w+)\)")  # cabal's `(linux; x86_64)`
_WGET_PLATFORM = re.compile(r"^Wget/\S+ \(([\w-]+)\)")
# CI services that name themselves in an agent outside npm's `ci/<name>`.
_CI_MARKERS: Final = (
    (re.compile(r"github[- ]actions|GitHubActions", re.IGNORECASE), "github-actions"),
    (re.compile(r"gitlab-runner|gitlab-ci", re.IGNORECASE), "gitlab"),
    (re.compile(r"\bjenkins\b", re.IGNORECASE), "jenkins"),
    (re.compile(r"\bbuildkite\b", re.IGNORECASE), "buildkite"),
    (re.compile(r"\bcircleci\b", re.IGNORECASE), "circleci"),
    (re.compile(r"\btravis\b", re.IGNORECASE), "travis"),
    (re.compile(r"azure-pipelines|\bTFS\b", re.IGNORECASE), "azure-pipelines"),
)
# Browsers, in the order their tokens must be tested (Edge and Opera also say Chrome/Safari).
_BROWSERS: Final = (
    (re.compile(r"\bEdg(?:e|A|iOS)?/(\S+)"), "edge"),
    (re.compile(r"\bOPR/(\S+)"), "opera"),
    (re.compile(r"\bFirefox/(\S+)"), "firefox"),
    (re.compile(r"\bFxiOS/(\S+)"), "firefox"),
    (re.compile(r"\bCriOS/(\S+)"), "chrome"),
    (re.compile(r"\bChrome/(\S+)"), "chrome"),
    (re.compile(r"\bVersion/(\S+).*\bSafari/"), "safari"),
)
_BROWSER_OS: Final = (
    (re.compile(r"iPhone|iPad|iPod"), "ios"),
    (re.compile(r"Android"), "android"),
    (re.compile(r"Windows NT"), "windows"),
    (re.compile(r"Mac OS X|Macintosh"), "macos"),
    (re.compile(r"CrOS"), "chromeos"),
    (re.compile(r"Linux|X11"), "linux"),
)
_BROWSER_ARCH = re.compile(r"\b(x86_64|Win64|x64|aarch64|arm64|i686)\b")
_LOOSE_OS = re.compile(r"\b(Linux|Darwin|Windows|win32|macOS|FreeBSD)\b", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAgent:
    """One user agent, parsed. `tool` is lower case; None fields were not in the agent."""

    user_agent: str
    tool: str | None = None
    tool_version: str | None = None
    os: str | None = None
    arch: str | None = None
    is_ci: bool = False
    ci_name: str | None = None
    is_browser: bool = False
    is_bot: bool = False
    parsed_by: str | None = None  # "json" (pip/uv), "rules", or None: nothing matched


def _os(name: str | None) -> str | None:
    return _OS.get(name.strip().lower(), name.strip().lower()) if name else None


def _arch(name: str | None) -> str | None:
    return _ARCH.get(name.strip().lower(), name.strip().lower()) if name else None


def _ci_marker(agent: str) -> str | None:
    for pattern, name in _CI_MARKERS:
        if pattern.search(agent):
            return name
    return None


def _parse_python_json(agent: str) -> ParsedAgent | None:
    """pip (>= 6) and uv (>= 0.1.22): `pip/24.0 {"ci":true,"cpu":"x86_64",...}`, the format
    PyPI's linehaul reads. A JSON that does not parse leaves the agent to the prefix rules."""
    found = _PYTHON_JSON.match(agent)
    if not found:
        return None
    try:
        details = json.loads(found.group(3))
    except ValueError:
        return None
    if not isinstance(details, dict):
        return None
    installer = details.get("installer")
    system = details.get("system")
    ci_name = _ci_marker(agent)
    return ParsedAgent(
        user_agent=agent,
        tool=found.group(1),
        tool_version=(_text(installer.get("version")) if isinstance(installer, dict) else None)
        or found.group(2),
        os=_os(_text(system.get("name")) if isinstance(system, dict) else None),
        arch=_arch(_text(details.get("cpu"))),
        # pip writes `"ci": true` when a CI variable is set, and null otherwise.
        is_ci=details.get("ci") is True or ci_name is not None,
        ci_name=ci_name,
        parsed_by="json",
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _loose_os(agent: str) -> str | None:
    found = _LOOSE_OS.search(agent)
    return _os(found.group(1)) if found else None


def _parse_node_tool(agent: str) -> ParsedAgent | None:
    tool = _NODE_TOOL.match(agent)
    if not tool:
        return None
    platform = _NODE_PLATFORM.search(agent)
    ci = _CI_TOKEN.search(agent)
    ci_name = ci.group(1) if ci else _ci_marker(agent)
    return ParsedAgent(
        user_agent=agent,
        tool=tool.group(1).lower(),
        tool_version=tool.group(2),
        os=_os(platform.group(1)) if platform else None,
        arch=_arch(platform.group(2)) if platform else None,
        is_ci=ci_name is not None,
        ci_name=ci_name,
        parsed_by="rules",
    )


def _parse_prefixed_tool(agent: str) -> ParsedAgent | None:
    if _GO_HTTP.match(agent):
        tool, version = "go", None
    else:
        for pattern, name in _PREFIXED_TOOLS:
            found = pattern.match(agent)
            if found:
                tool, version = name, found.group(1)
                break
        else:
            return None
    os_match, arch_match = _GO_OS.search(agent), _GO_ARCH.search(agent)
    paren = _PAREN_PLATFORM.search(agent)
    wget = _WGET_PLATFORM.match(agent)
    os_name = (
        _os(os_match.group(1))
        if os_match
        else _os(paren.group(1))
        if paren
        else _os(wget.group(1))
        if wget
        else _loose_os(agent)
    )
    arch = _arch(arch_match.group(1)) if arch_match else _arch(paren.group(2)) if paren else None
    ci_name = _ci_marker(agent)
    return ParsedAgent(
        user_agent=agent,
        tool=tool,
        tool_version=version,
        os=os_name,
        arch=arch,
        is_ci=ci_name is not None,
        ci_name=ci_name,
        parsed_by="rules",
    )


def _parse_browser(agent: str) -> ParsedAgent | None:
    if not agent.startswith("Mozilla/"):
        return None
    name, version = None, None
    for pattern, browser in _BROWSERS:
        found = pattern.search(agent)
        if found:
            name, version = browser, found.group(1)
            break
    os_name = next((os for pattern, os in _BROWSER_OS if pattern.search(agent)), None)
    arch = _BROWSER_ARCH.search(agent)
    return ParsedAgent(
        user_agent=agent,
        tool="browser",
        tool_version=f"{name}/{version}" if name else None,
        os=os_name,
        arch=_arch(arch.group(1)) if arch else None,
        is_browser=True,
        parsed_by="rules",
    )


def _bot(agent: str) -> ParsedAgent | None:
    if not _BOT.search(agent):
        return None
    name = _BOT_NAME.search(agent)
    return ParsedAgent(
        user_agent=agent,
        tool="bot",
        tool_version=name.group(1).lower() if name else None,
        os=None,
        is_browser=False,
        is_bot=True,
        parsed_by="rules",
    )


def parse_user_agent(agent: str) -> ParsedAgent:
    """Parse one agent string. Never raises: an agent no rule knows gets `tool=None`."""
    text = agent.strip()
    if not text:
        return ParsedAgent(user_agent=agent)
    for parse in (_bot, _parse_node_tool, _parse_python_json, _parse_prefixed_tool, _parse_browser):
        parsed = parse(text)
        if parsed is not None:
            return parsed if text == agent else _with_agent(parsed, agent)
    ci_name = _ci_marker(text)
    return ParsedAgent(user_agent=agent, is_ci=ci_name is not None, ci_name=ci_name)


def _with_agent(parsed: ParsedAgent, agent: str) -> ParsedAgent:
    return ParsedAgent(**{**parsed.__dict__, "user_agent": agent})
