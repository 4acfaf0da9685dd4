"""The status page: a page at ``/status`` (``/`` redirects to it) that plots the
service's live figures, and the JSON document it polls, ``/status/data``.

The page is a small HTML shell, a stylesheet and a few kilobytes of script
shipped in the package (``static/``): the script polls the document every
interval and draws every plot as SVG. Nothing is loaded from elsewhere (the
Content-Security-Policy allows this origin only) and no value of the document
reaches the page as markup: model names and versions are user data, set as
text. The document is :class:`~fugue_ppl.service.status_sampler.StatusSampler`'s
(its shape is in that module's notes); it holds counts, latencies, states and
rollout decisions, never a secret.

Examples
--------
The application builds a sampler, mounts the routes and runs the sampler in
its lifespan::

    sampler = StatusSampler(runners, registry=registry, config=cfg.status,
                            ewma=cfg.monitor.ewma, cusum=cfg.monitor.cusum)
    app = Starlette(routes=[*status_routes(sampler), ...], lifespan=...)
    # lifespan: sampler.start() ... sampler.close()

``runners`` maps each model to its :class:`~fugue_ppl.deploy.Router` (or each
``(model, version)`` to its runner), or is a callable returning such a mapping.
"""

from __future__ import annotations

import html
import importlib.resources
from typing import Any

from fugue_ppl._extras import require
from fugue_ppl.service.status_sampler import StatusSampler

__all__ = ["PAGE_PATH", "DATA_PATH", "status_routes", "page_html"]

#: Where the page is served (``/`` redirects here) and where its document is.
PAGE_PATH = "/status"
DATA_PATH = "/status/data"
_STATIC = {"status.js": "text/javascript; charset=utf-8",
           "status.css": "text/css; charset=utf-8"}

#: Only this origin's script, style and data; no frames, no forms, no plugins.
_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": _CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _static(name: str) -> bytes:
    return importlib.resources.files("fugue_ppl.service").joinpath("static", name).read_bytes()


def page_html(interval: float, title: str = "fugue-ppl status") -> str:
    """The page's HTML shell (the script fills it), with ``title`` escaped."""
    t = html.escape(title, quote=True)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="status/static/status.css">
<script src="status/static/status.js" defer></script>
</head>
<body data-source="status/data" data-interval="{float(interval):g}">
<header class="top">
<h1>fugue-ppl</h1><span class="sub">service status</span>
<span class="spacer"></span>
<span id="updated"></span><span id="conn" class="conn">connecting</span>
</header>
<main>
<noscript><p>This page draws its plots with JavaScript; its figures are at
<a href="status/data">status/data</a>.</p></noscript>
<section id="problems" hidden></section>
<section id="rollouts"></section>
<section id="runners"></section>
<p id="no-runners" hidden>No model is served.</p>
</main>
</body>
</html>
"""


def status_routes(sampler: StatusSampler | Any, *, title: str = "fugue-ppl status",
                  **options: Any) -> list:
    """The status page's routes: ``/`` (a redirect), ``/status``, ``/status/data`` and the
    page's two static files under ``/status/static/``.

    Parameters
    ----------
    sampler : StatusSampler, or what it samples
        A :class:`StatusSampler` (the caller starts and closes it), or its
        ``source`` (a mapping of runners or routers, or a callable returning
        one): a sampler is then built with ``options`` and samples when the
        page polls.
    title : str
        The page's title.
    **options
        ``registry``, ``config``, ``ewma``, ``cusum``: see :class:`StatusSampler`.

    Returns
    -------
    list of starlette.routing.BaseRoute

    Raises
    ------
    ModuleNotFoundError
        Starlette is missing (the ``serve`` extra).
    TypeError
        A wrong type of source or option.
    """
    require("serve", "starlette", feature="the status page")
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, RedirectResponse, Response
    from starlette.routing import Route

    if not isinstance(sampler, StatusSampler):
        sampler = StatusSampler(sampler, **options)
    elif options:
        raise TypeError(f"status_routes: {', '.join(sorted(options))} belong to the sampler "
                        "(given one, pass none)")
    if not isinstance(title, str):
        raise TypeError(f"status_routes: title must be a str, got {type(title).__name__}")
    shell = page_html(sampler.config.interval_seconds, title).encode("utf-8")
    files = {name: _static(name) for name in _STATIC}

    async def root(request: Any) -> Any:
        prefix = request.scope.get("root_path", "")
        return RedirectResponse(f"{prefix}{PAGE_PATH}", status_code=307)

    async def page(request: Any) -> Any:
        return Response(shell, media_type="text/html; charset=utf-8", headers=_HEADERS)

    async def data(request: Any) -> Any:
        doc = await run_in_threadpool(sampler.document)
        return JSONResponse(doc, headers={"Cache-Control": "no-store",
                                          "X-Content-Type-Options": "nosniff"})

    async def static(request: Any) -> Any:
        name = request.path_params["name"]
        if name not in files:
            return JSONResponse({"error": "not found"}, status_code=404)
        return Response(files[name], media_type=_STATIC[name],
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

    return [Route("/", root, methods=["GET"], name="status_root"),
            Route(PAGE_PATH, page, methods=["GET"], name="status_page"),
            Route(DATA_PATH, data, methods=["GET"], name="status_data"),
            Route(PAGE_PATH + "/static/{name}", static, methods=["GET"], name="status_static")]
