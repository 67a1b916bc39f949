"""The fixed seeded world: users, tokens, organizations, packages, pixels, and value tables.

Everything here is constant data; `state.Store` copies it into mutable records, and
`events` draws event values from the tables at the bottom.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

DEMO_TOKEN = "scarf-demo-token"  # noqa: S105 (public demo tokens of the emulator)
DEMO_USER = "demo-maintainer"
DEMO_ORG = "acme-labs"
NON_PRO_ORG = "hobby-club"
MEMBER_TOKEN = "scarf-member-token"  # noqa: S105 (public demo tokens of the emulator)
MEMBER_USER = "bob-member"
OUTSIDER_TOKEN = "scarf-outsider-token"  # noqa: S105 (public demo tokens of the emulator)
OUTSIDER_USER = "eve-outsider"
ADMIN_TOKEN = "scarf-admin-token"  # noqa: S105 (public demo tokens of the emulator)
ADMIN_USER = "carol-admin"
DATA_START = datetime.date(2024, 1, 1)

# Longest export window the API accepts, in days (the real v2/v3 limit).
MAX_WINDOW_DAYS = 366

LIBRARY_TYPES = ("docker", "npm", "hackage", "pypi", "other")
ROLES = ("member", "admin", "owner")
PERMISSION_LEVELS = ("blocked", "default", "member", "admin")

# uuid5 namespace: every id the emulator mints derives from it, so ids never depend on the run.
ID_NAMESPACE = uuid.UUID("6f1c3a52-7a0e-4c1b-9d1e-5ca1f0e7a11c")
SEEDED_AT = datetime.datetime(2023, 6, 1, 9, 30, tzinfo=datetime.UTC)


def stable_id(*parts: str) -> str:
    """A deterministic uuid-like id from its parts."""
    return str(uuid.uuid5(ID_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class User:
    username: str
    email: str
    token: str
    data_export: bool


@dataclass(frozen=True)
class Organization:
    name: str
    description: str
    website: str | None
    billing_email: str
    data_export: bool


@dataclass(frozen=True)
class Package:
    owner: str
    name: str
    short_description: str
    library_type: str | None
    long_description: str | None = None
    website: str | None = None
    backend_url: str | None = None
    public_url: str | None = None
    repository_url: str | None = None

    @property
    def uuid(self) -> str:
        return stable_id("package", self.owner, self.name, self.library_type or "")


@dataclass(frozen=True)
class Pixel:
    owner: str
    name: str

    @property
    def id(self) -> str:
        return stable_id("pixel", self.owner, self.name)


@dataclass(frozen=True)
class World:
    """The seeded starting point; `state.Store.reset` returns to it."""

    users: tuple[User, ...]
    organizations: tuple[Organization, ...]
    memberships: tuple[tuple[str, str, str], ...]  # (organization, username, role)
    packages: tuple[Package, ...]
    permissions: tuple[tuple[str, str, str], ...]  # (package uuid, username, level)
    routes: tuple[tuple[str, str, str], ...]  # (package uuid, outgoingUrl, templatePath)
    domains: tuple[tuple[str, str], ...]  # (package uuid, domain name)
    pixels: tuple[Pixel, ...] = field(default=())


ACME_CLI = Package(
    DEMO_ORG,
    "acme-cli",
    "The Acme command line, as a container image",
    "docker",
    long_description="Pull it with docker; the image is served through Scarf's gateway.",
    website="https://acme-labs.example/cli",
    backend_url="https://ghcr.io/acme-labs/acme-cli",
    public_url="https://docker.acme-labs.example/acme-labs/acme-cli",
)
ACME_SDK_NPM = Package(DEMO_ORG, "acme-sdk", "Acme SDK for JavaScript", "npm")
ACME_SDK_PYPI = Package(
    DEMO_ORG,
    "acme-sdk",
    "Acme SDK for Python",
    "pypi",
    website="https://acme-labs.example/sdk",
    repository_url="https://pypi.org/simple/",
)
ACME_HS = Package(DEMO_ORG, "acme-hs", "Acme bindings for Haskell", "hackage")
ACME_INSTALLER = Package(
    DEMO_ORG,
    "acme-installer",
    "Installer binaries for every platform",
    "other",
    long_description="A file package: downloads routed through Scarf, with path variables.",
)
DEMO_DOTFILES = Package(DEMO_USER, "demo-dotfiles", "Personal dotfiles helper", "npm")
DEMO_TOOL = Package(DEMO_USER, "demo-tool", "A small personal Python tool", "pypi")
HOBBY_GAME = Package(NON_PRO_ORG, "hobby-game", "A weekend game", "npm")


def seeded_world() -> World:
    """The world every emulator starts with, whatever the seed (the seed drives events only)."""
    return World(
        users=(
            User(DEMO_USER, "demo@acme-labs.example", DEMO_TOKEN, data_export=True),
            User(MEMBER_USER, "bob@acme-labs.example", MEMBER_TOKEN, data_export=False),
            User(ADMIN_USER, "carol@acme-labs.example", ADMIN_TOKEN, data_export=False),
            User(OUTSIDER_USER, "eve@outside.example", OUTSIDER_TOKEN, data_export=False),
        ),
        organizations=(
            Organization(
                DEMO_ORG,
                "Acme Labs builds developer tools",
                "https://acme-labs.example",
                "billing@acme-labs.example",
                data_export=True,
            ),
            Organization(
                NON_PRO_ORG, "Weekend projects", None, "club@hobby.example", data_export=False
            ),
        ),
        memberships=(
            (DEMO_ORG, DEMO_USER, "owner"),
            (DEMO_ORG, ADMIN_USER, "admin"),
            (DEMO_ORG, MEMBER_USER, "member"),
            (NON_PRO_ORG, DEMO_USER, "owner"),
        ),
        packages=(
            ACME_CLI,
            ACME_SDK_NPM,
            ACME_SDK_PYPI,
            ACME_HS,
            ACME_INSTALLER,
            DEMO_DOTFILES,
            DEMO_TOOL,
            HOBBY_GAME,
        ),
        permissions=(
            (ACME_CLI.uuid, MEMBER_USER, "member"),
            (ACME_SDK_NPM.uuid, MEMBER_USER, "default"),
            (ACME_HS.uuid, MEMBER_USER, "blocked"),
        ),
        routes=(
            (
                ACME_INSTALLER.uuid,
                "https://github.com/acme-labs/installer/releases/download/v{version}/acme-{platform}-{arch}.tar.gz",
                "/installer/{version}/{platform}/{arch}",
            ),
        ),
        domains=(
            (ACME_INSTALLER.uuid, "get.acme-labs.example"),
            (ACME_SDK_PYPI.uuid, "pypi.acme-labs.example"),
        ),
        pixels=(Pixel(DEMO_ORG, "docs-home"), Pixel(DEMO_ORG, "readme-badge")),
    )


# ---- value tables for synthetic events ----------------------------------------------------

# (city, country, state, postal, latitude, longitude); the empty row is "no geolocation".
CITIES: tuple[tuple[str, str, str, str, float | None, float | None], ...] = (
    ("São Paulo", "BR", "São Paulo", "01000-000", -23.5505, -46.6333),
    ("Zürich", "CH", "Zürich", "8001", 47.3769, 8.5417),
    ("東京", "JP", "東京都", "100-0001", 35.6762, 139.6503),
    ("New York", "US", "New York", "10001", 40.7128, -74.0060),
    ("San Francisco", "US", "California", "94103", 37.7749, -122.4194),
    ("Berlin", "DE", "Berlin", "10115", 52.5200, 13.4050),
    ("Kraków", "PL", "Lesser Poland", "30-001", 50.0647, 19.9450),
    ("Montréal", "CA", "Québec", "H2X 1Y4", 45.5019, -73.5674),
    ("Bengaluru", "IN", "Karnataka", "560001", 12.9716, 77.5946),
    ("London", "GB", "England", "EC1A 1BB", 51.5072, -0.1276),
    ("Reykjavík", "IS", "", "101", 64.1466, -21.9426),
    ("", "", "", "", None, None),
)

# (company, domain, connection type). `business` rows feed the company breakdown, `hosting`
# rows the cloud_provider breakdown.
COMPANIES: tuple[tuple[str, str, str], ...] = (
    ("Acme, Inc.", "acme.example", "business"),
    ('"Big" Data LLC', "bigdata.example", "business"),
    ("Globex Corporation", "globex.example", "business"),
    ("Initech", "initech.example", "business"),
    ("Amazon Web Services", "aws.amazon.com", "hosting"),
    ("Google Cloud", "cloud.google.com", "hosting"),
    ("Microsoft Azure", "azure.microsoft.com", "hosting"),
    ("Deutsche Telekom AG", "telekom.de", "isp"),
    ("Comcast Cable", "comcast.net", "isp"),
    ("UNKNOWN", "", "isp"),
    ("", "", ""),
)

# (user agent, client, client version, platform) per kind of source.
_BROWSERS = (
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.6 Safari/605.1.15",
        "safari",
        "17.6",
        "macos",
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        "chrome",
        "130.0.0.0",
        "windows",
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64; rv:131.0) Gecko/20100101 Firefox/131.0",
        "firefox",
        "131.0",
        "linux",
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        "safari",
        "17.6",
        "ios",
    ),
)
USER_AGENTS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "pypi": (
        (
            'pip/24.2 {"ci":null,"cpu":"x86_64","distro":{"name":"Ubuntu","version":"22.04"},'
            '"implementation":{"name":"CPython","version":"3.12.5"},"system":{"name":"Linux"}}',
            "pip",
            "24.2",
            "linux",
        ),
        (
            'pip/23.3.1 {"ci":true,"cpu":"arm64","implementation":{"name":"CPython",'
            '"version":"3.11.9"},"system":{"name":"Darwin","release":"23.6.0"}}',
            "pip",
            "23.3.1",
            "darwin",
        ),
        ("uv/0.4.18", "uv", "0.4.18", "linux"),
        ("python-requests/2.32.3", "python-requests", "2.32.3", "unknownplatform"),
    ),
    "npm": (
        ("npm/10.8.2 node/v20.17.0 linux x64 workspaces/false", "npm", "10.8.2", "linux"),
        (
            "npm/10.9.0 node/v22.9.0 darwin arm64 workspaces/false ci/github-actions",
            "npm",
            "10.9.0",
            "macos",
        ),
        ("yarn/1.22.22 npm/? node/v18.20.4 win32 x64", "yarn", "1.22.22", "windows"),
        ("pnpm/9.12.0 npm/? node/v22.9.0 linux x64", "pnpm", "9.12.0", "linux"),
    ),
    "docker": (
        (
            "docker/27.3.1 go/go1.22.7 git-commit/41ca978 kernel/6.8.0-45-generic os/linux "
            "arch/amd64 UpstreamClient(Docker-Client/27.3.1 \\(linux\\))",
            "docker",
            "27.3.1",
            "linux",
        ),
        ("containerd/1.7.22", "containerd", "1.7.22", "linux"),
        ("Go-http-client/1.1", "go-http-client", "1.1", "unknownplatform"),
        ("docker/26.1.4 go/go1.21.11 os/windows arch/amd64", "docker", "26.1.4", "windows"),
    ),
    "hackage": (
        ("cabal-install/3.10.3.0 (linux; x86_64)", "cabal-install", "3.10.3.0", "linux"),
        ("cabal-install/3.12.1.0 (osx; aarch64)", "cabal-install", "3.12.1.0", "macos"),
        ("stack/2.15.7", "stack", "2.15.7", "unknownplatform"),
    ),
    "other": (
        ("curl/8.9.1", "curl", "8.9.1", "linux"),
        ("Wget/1.24.5", "wget", "1.24.5", "linux"),
        ("curl/8.7.1", "curl", "8.7.1", "macos"),
        *_BROWSERS[:2],
    ),
    "pixel": _BROWSERS,
}

VERSIONS: dict[str, tuple[str, ...]] = {
    "docker": ("latest", "1.4.2", "1.5.0", "1.5.1-alpine"),
    "npm": ("2.3.1", "2.4.0", "3.0.0-beta.1"),
    "pypi": ("0.9.0", "1.0.0", "1.0.1"),
    "hackage": ("0.3.0.1", "0.4.0.0"),
    "other": ("1.4.2", "1.5.0"),
    "pixel": ("",),
}

# Event types with their weights per kind of source.
EVENT_TYPES: dict[str, tuple[tuple[str, float], ...]] = {
    "docker": (("binary-download", 0.7), ("manifest-fetch", 0.3)),
    "npm": (("binary-download", 0.8), ("manifest-fetch", 0.2)),
    "pypi": (("binary-download", 0.85), ("manifest-fetch", 0.15)),
    "hackage": (("binary-download", 1.0),),
    "other": (("file-download", 1.0),),
    "pixel": (("pixel-fetch", 1.0),),
}

REFERERS: dict[str, tuple[str, ...]] = {
    "pixel": (
        "https://docs.acme-labs.example/getting-started?utm_source=github&utm_medium=readme",
        "https://github.com/acme-labs/acme-cli?tab=readme-ov-file",
        "https://www.google.com/search?q=acme+labs+cli&hl=en",
        "https://docs.acme-labs.example/",
        "",
    ),
    "other": (
        "https://acme-labs.example/download?os=linux&ref=homepage",
        "https://github.com/acme-labs/installer/releases?page=2",
        "",
        "",
    ),
    "default": ("", "", "", "https://github.com/acme-labs?tab=repositories"),
}

# Variables matched by the file package's route template.
FILE_VARIABLES = (
    "version=1.5.0&platform=linux&arch=x86_64",
    "version=1.5.0&platform=darwin&arch=arm64",
    "version=1.4.2&platform=windows&arch=x86_64",
    "version=1.4.2&platform=linux&arch=aarch64",
)

# How `time` is written, varied per source because the real format is undocumented.
TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.6fZ",
    "%Y-%m-%d %H:%M:%S%.3f+00:00",
    "%Y-%m-%dT%H:%M:%SZ",
    "%Y-%m-%d %H:%M:%S UTC",
)
