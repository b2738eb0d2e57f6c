"""PDF reports: a Django template rendered by WeasyPrint, with nothing fetched from outside.

WeasyPrint would follow any URL in the document (stylesheets, images, fonts). Reports hold
customer data, so the renderer gets :class:`StaticOnlyFetcher`, which serves our own static
files from disk and refuses every other URL (remote hosts, ``file:``, ``data:``): a report never
makes a network request and never reads a file outside the static files.
"""

from __future__ import annotations

import logging
import mimetypes
import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urljoin, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcherResponse

# WeasyPrint logs every rendering step at INFO; keep its warnings (bad CSS, refused URLs) only.
logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)

# Relative URLs in a report resolve against this made-up origin; only its static path is served.
BASE_URL = "https://moodsaas.invalid/"


class RefusedURL(ValueError):
    """A report asked for something that is not one of our static files."""


def static_file(url: str) -> Path:
    """The file on disk behind ``url`` if it is one of our static files, else :class:`RefusedURL`."""
    parts = urlsplit(url)
    static = urlsplit(urljoin(BASE_URL, settings.STATIC_URL or "/static/"))
    if (parts.scheme, parts.netloc) != (static.scheme, static.netloc) or not parts.path.startswith(static.path):
        raise RefusedURL(f"Reports load only our own static files, not {url!r}.")
    name = posixpath.normpath(unquote(parts.path[len(static.path) :]))
    if name.startswith(("/", "..")) or name == ".":
        raise RefusedURL(f"Not a static file name: {url!r}.")
    # The app's source file first (never a stale collected copy); a hashed name (the manifest
    # storage's, in production) exists only among the collected files.
    found = finders.find(name)
    if isinstance(found, str):
        return Path(found)
    if staticfiles_storage.exists(name):
        return Path(staticfiles_storage.path(name))
    raise RefusedURL(f"No such static file: {name!r}.")


def _fetcher() -> Any:
    from weasyprint.urls import (
        URLFetcher,
        URLFetcherResponse,
    )  # here, not at start-up: Pango loads with the first report

    class StaticOnlyFetcher(URLFetcher):
        """Serve our static files from disk; refuse every other URL (see the module docstring)."""

        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            path = static_file(url)
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(url, body=path.read_bytes(), headers={"Content-Type": content_type})

    return StaticOnlyFetcher()


def _import_weasyprint() -> None:
    """Import WeasyPrint (here, not at start-up: Pango loads with the first report), undoing the
    one process-wide setting it changes.

    ``weasyprint.images`` sets ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES = True`` on import: after the
    first report, Pillow would silently pad truncated uploads in this whole process instead of
    letting ``inference.decode`` refuse them. Reports only draw our own SVG and static files, so
    Pillow's strict default is put back.
    """
    import weasyprint  # noqa: F401
    from PIL import ImageFile

    ImageFile.LOAD_TRUNCATED_IMAGES = False


def render_pdf(template: str, context: dict[str, Any], request: HttpRequest) -> bytes:
    """Render ``template`` in the request's active language and time zone and return the PDF."""
    _import_weasyprint()
    from weasyprint import HTML

    html = render_to_string(template, context, request=request)
    pdf: bytes = HTML(string=html, base_url=BASE_URL, url_fetcher=_fetcher()).write_pdf()
    return pdf


def pdf_response(pdf: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
