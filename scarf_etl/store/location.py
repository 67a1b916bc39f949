"""Where raw files and the lake live: a local folder (today's layout) or an S3 bucket.

Every layer works on a local folder, `root`, with the layout of DESIGN.md. With a bucket
(SCARF_DATA_DIR=s3://bucket/prefix) `root` is a cache under SCARF_WORK_DIR and the same
relative paths are the object keys under the prefix; this module is the only one that talks to
the bucket. It offers what object storage can promise, and the raw and lake layers build their
guarantees on it:

- `upload_new`: a new key that nothing points at yet (a raw fetch's files);
- `replace`: an existing key replaced whole or not at all: the bytes go to a temporary key,
  are checked, then copied server-side onto the key (a copy is atomic; an upload that breaks
  half way leaves only the temporary key, removed on the next build);
- `download`: into the cache through a temporary file and `os.replace`.

Credentials, region and endpoint come only from the standard AWS variables (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION, AWS_ENDPOINT_URL); nothing here logs them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Final
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from scarf_etl.settings import PipelineSettings

# Bytes per read/write when streaming between the bucket and the cache.
_CHUNK: Final = 8 << 20
# Temporary keys (and temporary cache files) start with a dot and end in .tmp, like the local
# lake's temp files, so the same crash-leftover rule finds both.
TEMP_SUFFIX: Final = ".tmp"


class UnsafeKeyError(ValueError):
    """A path would become a key (or a file) outside the data location; nothing was written."""


class ObjectStoreError(OSError):
    """The bucket refused or failed an operation; the message names the object and the cause."""


def relative_key(root: Path, path: Path) -> PurePosixPath:
    """`path` relative to `root` as a key suffix, refused unless it stays inside `root`: no
    absolute parts, no `..`, `.` or empty segments, no backslash or NUL (names that a bucket
    would store but a folder would resolve elsewhere)."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise UnsafeKeyError(f"{path} is outside the data folder {root}") from None
    parts = relative.parts
    if not parts or any(
        part in ("", ".", "..") or "\\" in part or "\x00" in part or "/" in part for part in parts
    ):
        raise UnsafeKeyError(f"{path} does not name a file inside the data folder {root}")
    return PurePosixPath(*parts)


@dataclass(frozen=True)
class LocalData:
    """The data folder on local disk: today's behaviour, nothing to publish or fetch."""

    root: Path

    @property
    def is_remote(self) -> bool:
        return False

    def describe(self, path: Path) -> str:
        return str(path)


@dataclass(frozen=True)
class S3Data:
    """The data under `s3://bucket/prefix`, worked on in the local cache `root`."""

    root: Path
    bucket: str
    prefix: str  # no leading or trailing slash; may be empty
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    @property
    def is_remote(self) -> bool:
        return True

    @property
    def url(self) -> str:
        return "/".join(part for part in (f"s3://{self.bucket}", self.prefix) if part)

    @cached_property
    def filesystem(self) -> pafs.S3FileSystem:
        return s3_filesystem(self.environ)

    def key(self, path: Path) -> str:
        """The object key (as `bucket/prefix/relative`) of the cache file `path`."""
        relative = relative_key(self.root, path).as_posix()
        return "/".join(part for part in (self.bucket, self.prefix, relative) if part)

    def describe(self, path: Path) -> str:
        """`s3://bucket/prefix/relative` for messages and metadata."""
        return f"s3://{self.key(path)}"

    def read_bytes(self, path: Path) -> bytes | None:
        """The object's bytes, or None if there is no such object."""
        try:
            with self.filesystem.open_input_stream(self.key(path)) as stream:
                return bytes(stream.read())
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._error("read", path, error) from None

    def etag(self, path: Path) -> str | None:
        """The object's ETag (one HEAD request), or None if there is no such object."""
        try:
            with self.filesystem.open_input_file(self.key(path)) as handle:
                metadata = handle.metadata()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise self._error("look up", path, error) from None
        return bytes(metadata.get("ETag", b"")).decode("ascii", "replace").strip('"')

    def upload_new(self, local: Path, path: Path) -> None:
        """Upload `local` to the key of `path`, a key nothing refers to yet; checked by size."""
        self._upload(local, self.key(path), path)

    def replace(self, local: Path, path: Path) -> str:
        """Replace the object at `path` with `local`, whole or not at all. Returns its ETag."""
        return self.replace_all([(local, path)])[0]

    def replace_all(self, pairs: Sequence[tuple[Path, Path]]) -> list[str]:
        """Replace the object at each `(local, path)`'s path with its local file: every file is
        uploaded to a temporary key and checked before the first object is replaced, so a
        failed upload replaces none. Returns the new objects' ETags."""
        temporaries = [
            path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}") for _, path in pairs
        ]
        try:
            for (local, path), temporary in zip(pairs, temporaries, strict=True):
                self._upload(local, self.key(temporary), path)
            for (_, path), temporary in zip(pairs, temporaries, strict=True):
                try:
                    self.filesystem.copy_file(self.key(temporary), self.key(path))
                except OSError as error:
                    raise self._error("publish", path, error) from None
        finally:
            # Best effort: a key left here is a crash leftover the next build removes.
            self._delete_keys([self.key(t) for t in temporaries], quiet=True)
        etags = []
        for _, path in pairs:
            etag = self.etag(path)
            if etag is None:
                raise ObjectStoreError(f"{self.describe(path)} is missing right after its upload")
            etags.append(etag)
        return etags

    def download(self, path: Path, local: Path) -> None:
        """Copy the object at `path` to `local` (temp file + os.replace, so never half a file).
        Raises FileNotFoundError if there is no such object."""
        local.parent.mkdir(parents=True, exist_ok=True)
        temporary = local.with_name(f".{local.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
        try:
            with (
                self.filesystem.open_input_stream(self.key(path)) as source,
                temporary.open("wb") as target,
            ):
                while chunk := source.read(_CHUNK):
                    target.write(chunk)
            os.replace(temporary, local)
        except FileNotFoundError:
            raise
        except OSError as error:
            raise self._error("download", path, error) from None
        finally:
            temporary.unlink(missing_ok=True)

    def list_files(self, folder: Path) -> list[Path]:
        """The objects under the folder `folder` (recursively), as cache paths."""
        prefix = self.key(folder)
        try:
            infos = self.filesystem.get_file_info(
                pafs.FileSelector(prefix, recursive=True, allow_not_found=True)
            )
        except OSError as error:
            raise self._error("list", folder, error) from None
        return [
            folder / PurePosixPath(info.path).relative_to(prefix)
            for info in infos
            if info.type == pafs.FileType.File
        ]

    def delete(self, paths: Iterable[Path]) -> None:
        """Delete the objects at `paths` (missing ones are fine)."""
        self._delete_keys([self.key(path) for path in paths])

    def _delete_keys(self, keys: list[str], *, quiet: bool = False) -> None:
        for key in keys:
            try:
                self.filesystem.delete_file(key)
            except FileNotFoundError:
                pass
            except OSError as error:
                if quiet:
                    continue
                raise ObjectStoreError(f"could not delete s3://{key}: {error}") from None

    def _upload(self, local: Path, key: str, path: Path) -> None:
        size = local.stat().st_size
        try:
            with local.open("rb") as source, self.filesystem.open_output_stream(key) as target:
                while chunk := source.read(_CHUNK):
                    target.write(chunk)
            stored = self.filesystem.get_file_info(key)
        except OSError as error:
            raise self._error("upload", path, error) from None
        # A stream closed by an error may still complete a shorter object: never trust it.
        if stored.size != size:
            raise ObjectStoreError(
                f"upload of {self.describe(path)} stored {stored.size} bytes of {size}; "
                "nothing was published. Re-run the step."
            )

    def _error(self, action: str, path: Path, error: OSError) -> ObjectStoreError:
        return ObjectStoreError(
            f"could not {action} {self.describe(path)}: {error}. Check the bucket exists and "
            "the AWS_* credentials may read and write it (AWS_ENDPOINT_URL for an "
            "S3-compatible store)."
        )


DataLocation = LocalData | S3Data


def s3_filesystem(environ: Mapping[str, str]) -> pafs.S3FileSystem:
    """An S3 client configured from the standard AWS variables. The AWS SDK reads the keys
    itself; pyarrow's SDK does not read AWS_ENDPOINT_URL, so the endpoint is passed here."""
    options: dict[str, object] = {}
    endpoint = (
        environ.get("AWS_ENDPOINT_URL_S3", "").strip()
        or environ.get("AWS_ENDPOINT_URL", "").strip()
    )
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["endpoint_override"] = parts.netloc + parts.path.rstrip("/")
        options["scheme"] = parts.scheme or "https"
    region = environ.get("AWS_REGION", "").strip() or environ.get("AWS_DEFAULT_REGION", "").strip()
    if region:
        options["region"] = region
    return pafs.S3FileSystem(**options)


def data_location(settings: PipelineSettings) -> DataLocation:
    """Where the settings say the data lives."""
    if settings.data_url is None:
        return LocalData(settings.data_dir)
    bucket, _, prefix = settings.data_url.removeprefix("s3://").partition("/")
    return S3Data(root=settings.data_dir, bucket=bucket, prefix=prefix.strip("/"))


def as_location(data: Path | DataLocation) -> DataLocation:
    """A plain folder is a local data location (library callers and tests pass paths)."""
    return LocalData(data) if isinstance(data, Path) else data
