"""User-agent parsing against real agent strings of each tool, in CI and not."""

from __future__ import annotations

import pytest

from scarf_etl.analysis.user_agents import ParsedAgent, parse_user_agent
from scarf_etl.emulator import world

PIP_LINUX = (
    'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"jammy","libc":{"lib":"glibc",'
    '"version":"2.35"},"name":"Ubuntu","version":"22.04"},"implementation":{"name":"CPython",'
    '"version":"3.12.1"},"installer":{"name":"pip","version":"24.0"},"openssl_version":'
    '"OpenSSL 3.0.2 15 Mar 2022","python":"3.12.1","rustc_version":"1.75.0",'
    '"setuptools_version":"69.0.3","system":{"name":"Linux","release":"6.5.0-1016-azure"}}'
)
PIP_MAC_CI = (
    'pip/23.3.1 {"ci":true,"cpu":"arm64","distro":{"name":"macOS","version":"14.2.1"},'
    '"implementation":{"name":"CPython","version":"3.11.7"},"installer":{"name":"pip",'
    '"version":"23.3.1"},"openssl_version":"OpenSSL 3.1.4 24 Oct 2023","python":"3.11.7",'
    '"setuptools_version":"69.0.2","system":{"name":"Darwin","release":"23.2.0"}}'
)
PIP_WINDOWS = (
    'pip/24.2 {"ci":null,"cpu":"AMD64","implementation":{"name":"CPython","version":"3.12.5"},'
    '"installer":{"name":"pip","version":"24.2"},"python":"3.12.5",'
    '"system":{"name":"Windows","release":"11"}}'
)
UV_LINUX_CI = (
    'uv/0.5.4 {"installer":{"name":"uv","version":"0.5.4"},"python":"3.12.7",'
    '"implementation":{"name":"CPython","version":"3.12.7"},"distro":{"name":"Ubuntu",'
    '"version":"24.04","id":"noble","libc":{"lib":"glibc","version":"2.39"}},'
    '"system":{"name":"Linux","release":"6.8.0-1017-azure"},"cpu":"x86_64",'
    '"openssl_version":null,"setuptools_version":null,"rustc_version":null,"ci":true}'
)
UV_MAC = (
    'uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.6",'
    '"implementation":{"name":"CPython","version":"3.12.6"},"distro":{"name":"macOS",'
    '"version":"14.6.1","id":null,"libc":null},"system":{"name":"Darwin","release":"23.6.0"},'
    '"cpu":"arm64","openssl_version":null,"setuptools_version":null,"rustc_version":null,'
    '"ci":null}'
)
CHROME_WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/121.0.0.0 Safari/537.36"
)

# (agent, tool, tool_version, os, arch, is_ci, ci_name, is_browser, is_bot)
CORPUS = [
    # Python installers
    (PIP_LINUX, "pip", "24.0", "linux", "x86_64", False, None, False, False),
    (PIP_MAC_CI, "pip", "23.3.1", "macos", "arm64", True, None, False, False),
    (PIP_WINDOWS, "pip", "24.2", "windows", "x86_64", False, None, False, False),
    ("pip/1.5.6 CPython/2.7.6 Linux/3.13.0-24-generic", "pip", "1.5.6", "linux", None,
     False, None, False, False),
    ('pip/24.0 {"ci":tru', "pip", "24.0", None, None, False, None, False, False),
    (UV_LINUX_CI, "uv", "0.5.4", "linux", "x86_64", True, None, False, False),
    (UV_MAC, "uv", "0.4.18", "macos", "arm64", False, None, False, False),
    ("uv/0.1.10", "uv", "0.1.10", None, None, False, None, False, False),
    ("poetry/1.8.3 CPython/3.12.4 Linux/6.5.0-41-generic", "poetry", "1.8.3", "linux", None,
     False, None, False, False),
    ("pdm/2.19.1 CPython/3.12.6", "pdm", "2.19.1", None, None, False, None, False, False),
    ("conda/24.7.1 requests/2.32.3 CPython/3.12.4 Linux/6.5.0-1025-azure ubuntu/22.04.4 "
     "glibc/2.35 solver/libmamba conda-libmamba-solver/24.7.0 libmambapy/1.5.8",
     "conda", "24.7.1", "linux", None, False, None, False, False),
    ("twine/5.1.1 importlib-metadata/8.0.0 keyring/25.2.1 pkginfo/1.10.0 requests/2.32.3 "
     "requests-toolbelt/1.0.0 urllib3/2.2.2 CPython/3.12.4",
     "twine", "5.1.1", None, None, False, None, False, False),
    ("python-requests/2.31.0", "python-requests", "2.31.0", None, None, False, None, False,
     False),
    # JavaScript
    ("npm/10.2.4 node/v20.11.0 linux x64 workspaces/false", "npm", "10.2.4", "linux",
     "x86_64", False, None, False, False),
    ("npm/10.2.4 node/v20.11.0 linux x64 workspaces/false ci/github-actions", "npm",
     "10.2.4", "linux", "x86_64", True, "github-actions", False, False),
    ("npm/9.8.1 node/v18.19.0 darwin arm64 workspaces/false ci/gitlab", "npm", "9.8.1",
     "macos", "arm64", True, "gitlab", False, False),
    ("yarn/1.22.19 npm/? node/v18.17.1 win32 x64", "yarn", "1.22.19", "windows", "x86_64",
     False, None, False, False),
    ("yarn/4.1.0 npm/? node/v20.11.0 darwin arm64", "yarn", "4.1.0", "macos", "arm64",
     False, None, False, False),
    ("pnpm/8.15.1 npm/? node/v20.11.0 linux x64", "pnpm", "8.15.1", "linux", "x86_64",
     False, None, False, False),
    ("Bun/1.1.30", "bun", "1.1.30", None, None, False, None, False, False),
    # Containers
    ("docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.2.0-1018-azure os/linux "
     "arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))",
     "docker", "24.0.7", "linux", "x86_64", False, None, False, False),
    ("docker/27.2.0 go/go1.21.13 git-commit/3ab5c7d kernel/6.10.4-linuxkit os/linux "
     "arch/arm64 UpstreamClient(Docker-Client/27.2.0 \\(darwin\\))",
     "docker", "27.2.0", "linux", "arm64", False, None, False, False),
    ("containerd/v1.7.12", "containerd", "1.7.12", None, None, False, None, False, False),
    ("containerd/1.6.28+unknown", "containerd", "1.6.28", None, None, False, None, False,
     False),
    ("containers/5.29.2 (github.com/containers/image)", "podman", "5.29.2", None, None,
     False, None, False, False),
    ("Helm/3.14.2", "helm", "3.14.2", None, None, False, None, False, False),
    ("Go-http-client/1.1", "go", None, None, None, False, None, False, False),
    ("Go-http-client/2.0", "go", None, None, None, False, None, False, False),
    # Haskell
    ("cabal-install/3.10.2.1 (linux; x86_64)", "cabal", "3.10.2.1", "linux", "x86_64",
     False, None, False, False),
    ("stack/2.15.1", "stack", "2.15.1", None, None, False, None, False, False),
    # Downloaders
    ("curl/8.4.0", "curl", "8.4.0", None, None, False, None, False, False),
    ("Wget/1.21.2", "wget", "1.21.2", None, None, False, None, False, False),
    ("Wget/1.21.4 (linux-gnu)", "wget", "1.21.4", "linux", None, False, None, False, False),
    # Browsers
    (CHROME_WINDOWS, "browser", "chrome/121.0.0.0", "windows", "x86_64", False, None, True,
     False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0",
     "browser", "edge/120.0.0.0", "windows", "x86_64", False, None, True, False),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:122.0) Gecko/20100101 Firefox/122.0", "browser",
     "firefox/122.0", "linux", "x86_64", False, None, True, False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
     "Gecko) Version/17.2.1 Safari/605.1.15",
     "browser", "safari/17.2.1", "macos", None, False, None, True, False),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/121.0.0.0 Mobile Safari/537.36",
     "browser", "chrome/121.0.0.0", "android", None, False, None, True, False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
     "like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
     "browser", "safari/17.2", "ios", None, False, None, True, False),
    # Bots and automation
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot",
     "googlebot", None, None, False, None, False, True),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
     "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
     "bot", "bingbot", None, None, False, None, False, True),
    ("Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
     "+https://openai.com/gptbot)",
     "bot", "gptbot", None, None, False, None, False, True),
    ("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot", None,
     None, None, False, None, False, True),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "HeadlessChrome/120.0.6099.109 Safari/537.36",
     "bot", None, None, None, False, None, False, True),
    # Nothing known
    ("SomeInternalMirror", None, None, None, None, False, None, False, False),
    ("", None, None, None, None, False, None, False, False),
]  # fmt: skip


@pytest.mark.parametrize("case", CORPUS, ids=[c[0][:48] or "empty" for c in CORPUS])
def test_real_agents(case: tuple[object, ...]) -> None:
    agent = str(case[0])
    parsed = parse_user_agent(agent)
    got = (
        parsed.tool,
        parsed.tool_version,
        parsed.os,
        parsed.arch,
        parsed.is_ci,
        parsed.ci_name,
        parsed.is_browser,
        parsed.is_bot,
    )
    assert got == case[1:]
    assert parsed.user_agent == agent


def test_every_tool_of_the_issue_is_in_the_corpus() -> None:
    tools = {case[1] for case in CORPUS}
    assert {
        "pip", "uv", "poetry", "pdm", "conda", "npm", "yarn", "pnpm", "bun", "docker",
        "containerd", "podman", "helm", "go", "curl", "wget", "browser", "bot",
    } <= tools  # fmt: skip
    assert {case[5] for case in CORPUS} == {True, False}  # CI and not


def test_emulator_agents_match_the_emulators_own_labels() -> None:
    """The emulator labels each agent with its client and platform; ours must agree."""
    renamed = {"go-http-client": "go", "cabal-install": "cabal"}
    for agents in world.USER_AGENTS.values():
        for agent, client, version, _platform in agents:
            parsed = parse_user_agent(agent)
            if parsed.is_browser:
                assert parsed.tool_version == f"{client}/{version}"
            else:
                assert parsed.tool == renamed.get(client, client)
                assert parsed.tool_version == (None if parsed.tool == "go" else version)


def test_surrounding_whitespace_is_kept_in_the_key() -> None:
    parsed = parse_user_agent("  curl/8.4.0 ")
    assert parsed == ParsedAgent(
        user_agent="  curl/8.4.0 ", tool="curl", tool_version="8.4.0", parsed_by="rules"
    )
