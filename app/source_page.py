"""The web app's source view: `/source`, a plain server-rendered page beside the Gradio app.

A citation in the chat links to `source?file=F&start=A&end=B&pid=ID&ev=a-b`; the page shows the whole
cleaned text with that passage highlighted and scrolled into view, previous/next passage buttons in a
bar that stays on screen, and for a PDF the original page as a picture.

It is one HTML response, not a Gradio page: a Gradio page ships an empty shell whose content arrives
through a queued event once the app's scripts have loaded (2-4 s); this one is readable as soon as it
arrives. The route is served by the Gradio app's own server (`source_routes`, passed to `launch` as a
FastAPI route), and the Gradio login guards it: without the login cookie it answers with a sign-in
form that posts to Gradio's `/login` (app/access.py checks the cookie).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.access import signed_in
from app.page_image import PAGE_IMAGE_SUFFIXES, page_data_url
from app.present import escape
from app.source_view import (
    Focus,
    LocationError,
    SourceDocument,
    SourceNotFound,
    focus_label,
    locate,
    source_document,
    source_html,
)
from index.config import Settings
from index.search import Searcher
from index.storage.store import IndexError_
from ingest.records import Occurrence

PATH = "source"
log = logging.getLogger("verbatim.web")
CSS = Path(__file__).with_name("read_in_context.css").read_text(encoding="utf-8")
# What the page itself needs on top of the source view's rules (which the chat shares): a plain page
# has no Gradio theme, so the body, the buttons and the sign-in form are styled here.
PAGE_CSS = """
body { margin: 0; font: 16px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1f2933; background: #fff; }
#vb-source-view { padding: 16px 16px 96px; }
#vb-source-nav { display: flex; }
#vb-source-nav button { font: inherit; font-size: 0.875em; padding: 6px 10px; border: 1px solid #c5ced6; border-radius: 6px;
  background: #f4f6f8; color: inherit; cursor: pointer; min-width: 0; white-space: nowrap; }
#vb-source-nav button:disabled { opacity: 0.45; cursor: default; }
#vb-source-nav button:not(:disabled):hover { background: #e3ebf0; }
.vb-login { max-width: 22em; margin: 12vh auto; padding: 20px; border: 1px solid #d5dde3; border-radius: 8px; }
.vb-login label { display: block; margin: 10px 0 4px; font-size: 0.9em; }
.vb-login input { box-sizing: border-box; width: 100%; padding: 6px 8px; font: inherit; }
.vb-login button { margin-top: 14px; padding: 6px 16px; font: inherit; cursor: pointer; }
.vb-login-error { color: #a30000; min-height: 1.4em; margin: 8px 0 0; }
"""
# Bring the highlighted passage into view; previous/next fetch the neighbouring passage's page and swap
# the view and the bar in place (no reload of the page's styles), keeping the address in step.
PAGE_JS = """
const show = () => {
  const focus = document.getElementById('vb-focus');
  if (focus) focus.scrollIntoView({block: 'center'});
};
const go = async (href) => {
  let reply;
  try { reply = await fetch(href, {credentials: 'same-origin'}); } catch (e) { location.href = href; return; }
  if (!reply.ok) { location.href = href; return; }
  const next = new DOMParser().parseFromString(await reply.text(), 'text/html');
  for (const id of ['vb-source-view', 'vb-source-nav']) {
    const fresh = next.getElementById(id);
    if (!fresh) { location.href = href; return; }
    document.getElementById(id).replaceWith(document.adoptNode(fresh));
  }
  document.title = next.title;
  history.pushState(null, '', href);
  wire();
  requestAnimationFrame(show);
};
const wire = () => {
  for (const id of ['vb-prev', 'vb-next']) {
    const button = document.getElementById(id);
    if (button && button.dataset.href) button.addEventListener('click', () => go(button.dataset.href));
  }
};
addEventListener('popstate', () => location.reload());
wire();
show();
"""
LOGIN_JS = """
const form = document.getElementById('vb-login');
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const reply = await fetch('login', {method: 'POST', body: new URLSearchParams(new FormData(form)), credentials: 'same-origin'});
  if (reply.ok) location.reload();
  else document.getElementById('vb-login-error').textContent = 'Incorrect credentials.';
});
"""


@dataclass(frozen=True)
class Neighbour:
    """A previous/next passage button: usable or not, and the link it opens."""

    href: str | None

    @property
    def interactive(self) -> bool:
        return self.href is not None


@dataclass(frozen=True)
class SourcePage:
    """What one request shows: the view's HTML, where it is (state), the two steps and the bar's label."""

    html: str
    state: dict | None
    previous: Neighbour
    following: Neighbour
    where: str
    title: str = "Source"
    status: int = 200

    def __iter__(self):
        """Unpacks as (html, state, previous, following, where), the order the view's callers use."""
        return iter((self.html, self.state, self.previous, self.following, self.where))

    def __getitem__(self, item: int):
        return tuple(self)[item]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        raise LocationError(f"{value!r} is not a whole number") from None


def _pair(value: str | None) -> tuple[int, int] | None:
    """'a-b' as two numbers; anything else is None (the evidence mark is a nicety, not worth an error)."""
    a, sep, b = (value or "").partition("-")
    return (int(a), int(b)) if sep and a.isdigit() and b.isdigit() else None


def _message(text: str) -> str:
    return f'<p class="vb-doc-notice">{escape(text)}</p>'


def _link(file: str, passage: Occurrence | None) -> Neighbour:
    """The source view's own link to `passage` of `file` (relative, like the chat's citations)."""
    if passage is None:
        return Neighbour(None)
    return Neighbour(f"{PATH}?" + urlencode({"file": file, "start": passage.start, "end": passage.end}))


class SourceView:
    """Renders the source view for one request: from a link's query, or a step to a neighbouring passage."""

    def __init__(self, settings: Settings, searcher: Searcher) -> None:
        self.settings = settings
        self.searcher = searcher

    def _render(self, doc: SourceDocument, focus: Focus | None, notice: str) -> SourcePage:
        picture = ""
        if focus is not None and doc.file.lower().endswith(PAGE_IMAGE_SUFFIXES):  # PDFs and OCR'd images
            page = doc.paragraph_at(focus.start).page
            if page is not None:
                picture = page_data_url(Path(self.settings.sources_dir) / doc.file, doc.fingerprint, page)
        html = source_html(doc, focus, notice, picture)
        before, after = doc.neighbours(focus.start, focus.end) if focus else (None, (doc.passages or (None,))[0])
        state = {"file": doc.file, "start": focus.start, "end": focus.end} if focus else {"file": doc.file}
        where = f'<div class="vb-where">{escape(focus_label(doc, focus))}</div>'
        title = doc.meta.title or doc.file
        return SourcePage(html, state, _link(doc.file, before), _link(doc.file, after), where, title)

    def _fail(self, text: str, status: int = 200) -> SourcePage:
        return SourcePage(_message(text), None, Neighbour(None), Neighbour(None), "", status=status)

    def open(self, query: Mapping[str, str]) -> SourcePage:
        """The page for a link's query parameters; a bad link gets a plain message, never a traceback."""
        file = query.get("file", "")
        if not file:
            return self._fail("No source given: open a source from a citation in the chat.", 400)
        try:
            index = self.searcher.index()
            doc = source_document(index, file)
            try:
                focus, notice = locate(
                    index,
                    doc,
                    start=_int(query.get("start")),
                    end=_int(query.get("end")),
                    passage_id=_int(query.get("pid")),
                    evidence=_pair(query.get("ev")),
                    paragraph=_int(query.get("paragraph")),
                )
            except LocationError as exc:
                focus, notice = None, f"Cannot show that place: {exc}. The whole source is shown."
            return self._render(doc, focus, notice)
        except SourceNotFound as exc:
            return self._fail(str(exc), 404)
        except IndexError_ as exc:
            return self._fail(f"The index cannot be used: {exc}", 503)
        except Exception:
            log.exception("source view failed")
            return self._fail("Something went wrong while opening the source; the details are in the server log.", 500)

    def step(self, state: dict | None, direction: int) -> SourcePage | None:
        """The passage before (direction -1) or after (+1) the one in view; None when there is none."""
        if not state:
            return None
        try:
            index = self.searcher.index()
            doc = source_document(index, state["file"])
            if "start" in state:
                before, after = doc.neighbours(state["start"], state["end"])
            else:
                before, after = None, (doc.passages or (None,))[0]
            target = before if direction < 0 else after
            if target is None:
                return None
            return self._render(doc, Focus(target.start, target.end), "")
        except (SourceNotFound, IndexError_) as exc:
            return self._fail(str(exc))
        except Exception:
            log.exception("source view step failed")
            return self._fail("Something went wrong while opening the source; the details are in the server log.", 500)


def _button(element_id: str, label: str, step: Neighbour) -> str:
    href = f' data-href="{escape(step.href)}"' if step.href else " disabled"
    return f'<button type="button" id="{element_id}"{href}>{label}</button>'


def _document(title: str, body: str, script: str, nonce: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} · Verbatim</title><style>{CSS}{PAGE_CSS}</style></head>"
        f'<body>{body}<script nonce="{nonce}">{script}</script></body></html>'
    )


def page_html(page: SourcePage, nonce: str) -> str:
    """The whole HTML document of one source view: the view, then the fixed previous/next bar."""
    body = (
        f'<main id="vb-source-view">{page.html}</main>'
        f'<nav id="vb-source-nav">{_button("vb-prev", "◀ Previous passage", page.previous)}'
        f'<div id="vb-source-where">{page.where}</div>{_button("vb-next", "Next passage ▶", page.following)}</nav>'
    )
    return _document(page.title, body, PAGE_JS, nonce)


def login_html(nonce: str) -> str:
    """The sign-in form shown instead of a source to a browser without the login; it posts to Gradio's /login."""
    body = (
        '<form class="vb-login" id="vb-login"><h2>Verbatim: sign in</h2>'
        '<label for="vb-user">Username</label><input type="text" id="vb-user" name="username" autocomplete="username" required>'
        '<label for="vb-password">Password</label>'
        '<input type="password" id="vb-password" name="password" autocomplete="current-password" required>'
        '<button type="submit">Login</button><p class="vb-login-error" id="vb-login-error" role="alert"></p></form>'
    )
    return _document("Sign in", body, LOGIN_JS, nonce)


def _headers(nonce: str) -> dict[str, str]:
    """Only this response's own script runs; images only as data: URLs (PDF pages); nothing is cached,
    since the text may sit behind a login.

    'unsafe-eval' lets a script that already runs evaluate strings (browser automation's expressions do,
    the page's own script does not); what may run at all is still decided by the per-response nonce."""
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def source_routes(settings: Settings, searcher: Searcher) -> list[Route]:
    """The `/source` route, for `launch(app_kwargs={"routes": ...})`: it is matched before Gradio's own."""
    view = SourceView(settings, searcher)

    def source(request: Request) -> HTMLResponse:
        # A plain (sync) endpoint: Starlette runs it on its thread pool, so reading the index and
        # drawing a PDF page never block the event loop the chat runs on.
        nonce = secrets.token_urlsafe(16)
        if not signed_in(request):
            return HTMLResponse(login_html(nonce), headers=_headers(nonce))
        page = view.open(dict(request.query_params))
        return HTMLResponse(page_html(page, nonce), status_code=page.status, headers=_headers(nonce))

    return [Route(f"/{PATH}", source, methods=["GET", "HEAD"])]
