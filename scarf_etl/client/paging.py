"""The paging rule for list endpoints, as pure functions over one decoded response body.

V1 answers a plain JSON list: one page, done. A server that pages (v2 style `page`/`per_page`,
or a `next` cursor/URL) answers an object; these functions find its rows and the next request,
so the client's single paging loop never loses a row to a default page size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scarf_etl.client.errors import ScarfResponseError

_ITEM_KEYS = ("data", "results", "items", "rows", "records")
_NEXT_KEYS = ("next", "next_cursor", "nextCursor", "next_page_token")
_META_KEYS = ("pagination", "meta", "paging")


@dataclass(frozen=True)
class NextPage:
    """The next request: another URL (relative or absolute) or the same URL with new params."""

    params: dict[str, str] = field(default_factory=dict)
    url: str | None = None


def page_items(body: object) -> list[Any]:
    """The rows of one page."""
    if isinstance(body, list):
        return body
    if isinstance(body, dict):
        for key in _ITEM_KEYS:
            if isinstance(body.get(key), list):
                return list(body[key])
        lists = [value for value in body.values() if isinstance(value, list)]
        if len(lists) == 1:
            return list(lists[0])
    raise ScarfResponseError(
        f"expected a JSON list (or a page object holding one), got {type(body).__name__}"
    )


def _paging_fields(body: dict[str, Any]) -> dict[str, Any]:
    merged = dict(body)
    for key in _META_KEYS:
        if isinstance(body.get(key), dict):
            merged = {**body[key], **merged}
    return merged


def _first(fields: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if fields.get(key) is not None:
            return fields[key]
    return None


def next_page(body: object, params: dict[str, str]) -> NextPage | None:
    """The request for the page after `body` (fetched with `params`), or None when done."""
    if not isinstance(body, dict):
        return None
    items = page_items(body)
    fields = _paging_fields(body)

    cursor = _first(fields, *_NEXT_KEYS)
    if cursor:
        if isinstance(cursor, str) and cursor.startswith(("http://", "https://", "/")):
            return NextPage(url=cursor)
        return NextPage(params={**params, "after": str(cursor)})

    page = _first(fields, "page", "current_page", "currentPage")
    if page is None or not items:
        return None
    page = int(page)
    per_page = _first(fields, "per_page", "perPage", "page_size", "pageSize")
    has_more = _first(fields, "has_more", "hasMore")
    total_pages = _first(fields, "total_pages", "totalPages", "pages")
    total = _first(fields, "total", "total_count", "totalCount")

    if has_more is not None:
        more = bool(has_more)
    elif total_pages is not None:
        more = page < int(total_pages)
    elif total is not None and per_page:
        more = page * int(per_page) < int(total)
    elif per_page:
        more = len(items) >= int(per_page)
    else:
        more = True  # nothing says how many: keep going until a page comes back empty
    if not more:
        return None
    following = {**params, "page": str(page + 1)}
    if per_page:
        # Keep the server's page size: a different one would shift page boundaries.
        following["per_page"] = str(per_page)
    return NextPage(params=following)
