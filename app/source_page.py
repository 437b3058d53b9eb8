"""The web app's source view: a page of the same Gradio app at /source, so the same login guards it.

A citation in the chat links to `source?file=F&start=A&end=B&pid=ID&ev=a-b`; the page shows the whole
cleaned text with that passage highlighted and scrolled into view, previous/next passage buttons in a
bar that stays on screen, and for a PDF the original page as a picture.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from app.gradio_import import import_gradio

gr = import_gradio()  # gradio, without regenerating its type stubs at every start

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
from index.store import IndexError_

PATH = "source"
log = logging.getLogger("verbatim.web")
# Runs once when the view mounts; then after every new value: bring the highlighted passage into view.
SCROLL_TO_FOCUS = """
const show = () => {
  const focus = element.querySelector('#vb-focus');
  if (focus) focus.scrollIntoView({block: 'center'});
};
watch('value', () => requestAnimationFrame(show));
requestAnimationFrame(show);
"""


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


class SourceView:
    """Renders the source view for one request: from a link's query, or a step to a neighbouring passage."""

    def __init__(self, settings: Settings, searcher: Searcher) -> None:
        self.settings = settings
        self.searcher = searcher

    def _render(self, doc: SourceDocument, focus: Focus | None, notice: str) -> tuple:
        picture = ""
        if focus is not None and doc.file.lower().endswith(PAGE_IMAGE_SUFFIXES):  # PDFs and OCR'd images
            page = doc.paragraph_at(focus.start).page
            if page is not None:
                picture = page_data_url(Path(self.settings.sources_dir) / doc.file, doc.fingerprint, page)
        html = source_html(doc, focus, notice, picture)
        before, after = doc.neighbours(focus.start, focus.end) if focus else (None, (doc.passages or (None,))[0])
        state = {"file": doc.file, "start": focus.start, "end": focus.end} if focus else {"file": doc.file}
        where = f'<div class="vb-where">{escape(focus_label(doc, focus))}</div>'
        return html, state, gr.Button(interactive=before is not None), gr.Button(interactive=after is not None), where

    def _fail(self, text: str) -> tuple:
        return _message(text), None, gr.Button(interactive=False), gr.Button(interactive=False), ""

    def open(self, query: Mapping[str, str]) -> tuple:
        """(html, state, previous button, next button, where) for a link's query parameters."""
        file = query.get("file", "")
        if not file:
            return self._fail("No source given: open a source from a citation in the chat.")
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
            return self._fail(str(exc))
        except IndexError_ as exc:
            return self._fail(f"The index cannot be used: {exc}")
        except Exception:
            log.exception("source view failed")
            return self._fail("Something went wrong while opening the source; the details are in the server log.")

    def step(self, state: dict | None, direction: int) -> tuple:
        """The passage before (direction -1) or after (+1) the one in view."""
        if not state:
            return gr.skip(), state, gr.skip(), gr.skip(), gr.skip()
        try:
            index = self.searcher.index()
            doc = source_document(index, state["file"])
            if "start" in state:
                before, after = doc.neighbours(state["start"], state["end"])
            else:
                before, after = None, (doc.passages or (None,))[0]
            target = before if direction < 0 else after
            if target is None:
                return gr.skip(), state, gr.skip(), gr.skip(), gr.skip()
            return self._render(doc, Focus(target.start, target.end), "")
        except (SourceNotFound, IndexError_) as exc:
            return self._fail(str(exc))
        except Exception:
            log.exception("source view step failed")
            return self._fail("Something went wrong while opening the source; the details are in the server log.")


def add_source_page(app: gr.Blocks, settings: Settings, searcher: Searcher) -> None:
    """Add the /source page to `app` (call after its `with gr.Blocks()` block)."""
    view = SourceView(settings, searcher)

    def from_link(request: gr.Request):
        return view.open(dict(request.query_params))

    with app.route("Source", f"/{PATH}", show_in_navbar=False):
        with gr.Row(elem_id="vb-source-nav", equal_height=True):
            previous = gr.Button("◀ Previous passage", size="sm", interactive=False, elem_id="vb-prev", min_width=120)
            where = gr.HTML(elem_id="vb-source-where", min_height=0)
            following = gr.Button("Next passage ▶", size="sm", interactive=False, elem_id="vb-next", min_width=120)
        html = gr.HTML(elem_id="vb-source-view", js_on_load=SCROLL_TO_FOCUS, padding=True)
        state = gr.State(None)
        outputs = [html, state, previous, following, where]
        app.load(from_link, None, outputs, api_visibility="private")
        previous.click(lambda s: view.step(s, -1), state, outputs, api_visibility="private")
        following.click(lambda s: view.step(s, +1), state, outputs, api_visibility="private")
