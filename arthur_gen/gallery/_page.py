"""The gallery page: one HTML file, inline CSS and plain JS, outputs referenced by URL.

:func:`render_page` takes a ``url_for(media)`` function, so the same page serves two uses:
written to a file (relative paths from the page's folder, see :func:`write_gallery`) and
served by :mod:`arthur_gen.gallery._server` (its own ``/files/...`` URLs).
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from ..jobs._atomic import atomic_write_bytes
from ..money._dashboard import money
from ._data import Entry, Gallery, Media, load

__all__ = ["SCRIPT_HASH", "relative_url_for", "render_page", "write_gallery", "write_page"]

UrlFor = Callable[[Media], "str | None"]


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def relative_url_for(page_dir: Path) -> UrlFor:
    """``url_for`` for a page written in ``page_dir``: each file by its path relative to it."""
    base = os.path.realpath(page_dir)
    folders: dict[str, str] = {}  # folder -> its URL relative to the page (outputs share a few)

    def url_for(media: Media) -> str | None:
        folder, name = os.path.split(media.path)
        prefix = folders.get(folder)
        if prefix is None:
            rel = os.path.relpath(os.path.realpath(folder), base).replace(os.sep, "/")
            prefix = folders[folder] = "" if rel == "." else quote(rel, safe="/") + "/"
        return prefix + quote(name)

    return url_for


def _cost(entry: Entry) -> str:
    if entry.cost_source == "cache":
        return "$0 (from the cache)"
    if entry.cost_usd is not None:
        text = money(entry.cost_usd)
        return f"{text} (estimate)" if entry.cost_source == "estimate" else text
    if entry.estimate_usd is not None:
        return f"~{money(entry.estimate_usd)} (estimate)"
    return "unknown"


def _when(entry: Entry) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.created_at))


def _short(job_id: str) -> str:
    return job_id[-8:]


def _thumb(entry: Entry, url_for: UrlFor) -> str:
    main = entry.main
    if main is None:
        note = "no file yet" if entry.state not in ("failed", "canceled") else entry.state
        return f'<div class="nofile">{_e(note)}</div>'
    url = url_for(main) if main.exists else None
    if url is None:
        why = "file missing" if not main.exists else "outside the output folders"
        return f'<div class="nofile">{_e(why)}<br><small>{_e(Path(main.path).name)}</small></div>'
    alt = entry.prompt[:200]
    if main.is_video:
        poster_url = url_for(entry.poster) if entry.poster is not None and entry.poster.exists else None
        poster = f' poster="{_e(poster_url)}"' if poster_url else ""
        return (
            f'<video controls muted playsinline loop preload="none" data-src="{_e(url)}"{poster} '
            f'aria-label="{_e(alt)}"></video>'
        )
    if main.is_image:
        return (
            f'<a href="{_e(url)}"><img loading="lazy" decoding="async" src="{_e(url)}" alt="{_e(alt)}"></a>'
        )
    return f'<div class="nofile"><a href="{_e(url)}">{_e(Path(main.path).name)}</a></div>'


def _links(ids: tuple[str, ...], shown: set[str], others: dict[str, str]) -> str:
    parts = []
    for job_id in ids:
        if job_id in shown:
            parts.append(f'<a href="#job-{_e(job_id)}" class="jl">{_e(_short(job_id))}</a>')
        else:
            label = others.get(job_id, "not in the store")
            parts.append(f'<span class="jl" title="{_e(job_id)}">{_e(_short(job_id))} ({_e(label)})</span>')
    return " ".join(parts)


def _files(entry: Entry, url_for: UrlFor) -> str:
    links = []
    for media, label in [(entry.main, "file"), (entry.poster, "poster")] + [
        (m, Path(m.path).suffix.lstrip(".") or "file") for m in entry.extras
    ]:
        if media is not None and media.exists:
            url = url_for(media)
            if url is not None:
                links.append(f'<a href="{_e(url)}">{_e(label)}</a>')
    if entry.sidecar is not None and entry.sidecar.exists:
        url = url_for(entry.sidecar)
        if url is not None:
            links.append(f'<a href="{_e(url)}">metadata</a>')
    return " · ".join(links)


def _card(entry: Entry, url_for: UrlFor, shown: set[str], others: dict[str, str]) -> str:
    text = " ".join((entry.prompt, entry.id, entry.model, entry.backend)).lower()
    seed = "" if entry.seed is None else str(entry.seed)
    rows = [
        ("backend", _e(entry.backend)),
        ("model", _e(entry.model)),
        ("seed", _e(seed or "—")),
        ("cost", _e(_cost(entry))),
        ("state", f'<span class="st st-{_e(entry.state)}">{_e(entry.state)}</span>'),
        ("made", _e(_when(entry))),
    ]
    if entry.parents:
        rows.append(("from", _links(entry.parents, shown, others)))
    if entry.children:
        rows.append(("used by", _links(entry.children, shown, others)))
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    error = f'<p class="err">{_e(entry.error)}</p>' if entry.error and entry.state != "saved" else ""
    commands = "".join(
        f'<div class="cmd"><code>{_e(c)}</code><button type="button" class="copy">copy</button></div>'
        for c in entry.commands
    )
    files = _files(entry, url_for)
    return (
        f'<article class="card" id="job-{_e(entry.id)}" data-kind="{_e(entry.kind)}" '
        f'data-backend="{_e(entry.backend)}" data-model="{_e(entry.model)}" data-day="{_e(entry.day)}" '
        f'data-text="{_e(text)}">'
        f'<div class="media">{_thumb(entry, url_for)}<span class="kind">{_e(entry.kind)}</span></div>'
        f'<div class="body"><p class="prompt">{_e(entry.prompt)}</p><dl>{meta}</dl>{error}'
        f"<details><summary>make it again</summary>{commands}</details>"
        f'<div class="files">{files} <span class="id">job {_e(entry.id)}</span></div></div></article>'
    )


def _select(name: str, label: str, values: set[str]) -> str:
    options = "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in sorted(values))
    return (
        f'<label>{_e(label)}<select id="f-{name}" data-filter="{name}">'
        f'<option value="">all</option>{options}</select></label>'
    )


_CSS = """
*{box-sizing:border-box}
[hidden]{display:none!important}
body{margin:0;background:#f8fafc;color:#0f172a;
font:14px/1.45 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,"Helvetica Neue",Arial,
"DejaVu Sans",sans-serif}
main{max-width:1400px;margin:0 auto;padding:20px 24px 40px}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:baseline;gap:4px 16px;
margin-bottom:12px}
h1{font-size:22px;margin:0}
.muted{color:#64748b}
form.filters{display:flex;flex-wrap:wrap;gap:8px 12px;align-items:end;background:#fff;
border:1px solid #e2e8f0;border-radius:10px;padding:10px 12px;margin-bottom:16px}
form.filters label{display:flex;flex-direction:column;font-size:12px;color:#64748b;gap:2px;min-width:0;
max-width:100%}
form.filters select,form.filters input{font:inherit;font-size:14px;padding:4px 6px;border:1px solid #cbd5e1;
border-radius:6px;background:#fff;color:#0f172a;max-width:100%;min-width:0}
form.filters .grow{flex:1 1 200px}
form.filters button{font:inherit;padding:5px 12px;border-radius:6px;border:1px solid #cbd5e1;
background:#f1f5f9}
#count{margin-left:auto;color:#475569;font-size:13px;align-self:center}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(100%,280px),1fr));gap:16px}
.card{background:#fff;border:1px solid #e2e8f0;border-radius:10px;overflow:hidden;display:flex;
flex-direction:column;min-width:0}
.card:target{outline:3px solid #2563eb}
.media{position:relative;background:#0f172a;aspect-ratio:4/3;display:flex;align-items:center;
justify-content:center}
.media img,.media video{width:100%;height:100%;object-fit:contain;display:block}
.media a{display:block;width:100%;height:100%}
.kind{position:absolute;top:8px;left:8px;background:rgba(15,23,42,.75);color:#fff;font-size:11px;
padding:1px 7px;border-radius:9px;text-transform:uppercase;letter-spacing:.04em}
.nofile{color:#cbd5e1;text-align:center;padding:12px;overflow-wrap:anywhere}
.nofile a{color:#93c5fd}
.body{padding:10px 12px 12px;min-width:0}
.prompt{margin:0 0 8px;font-weight:600;overflow-wrap:anywhere}
dl{display:grid;grid-template-columns:auto 1fr;gap:1px 10px;margin:0 0 8px;font-size:12.5px}
dt{color:#64748b}dd{margin:0;overflow-wrap:anywhere;min-width:0}
.jl{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:12px;margin-right:6px}
.st{padding:0 6px;border-radius:8px;background:#e2e8f0}
.st-saved{background:#dcfce7;color:#166534}.st-failed{background:#fee2e2;color:#991b1b}
.st-canceled{background:#fef3c7;color:#92400e}
.err{color:#991b1b;font-size:12.5px;overflow-wrap:anywhere}
details{font-size:12.5px;margin-bottom:6px}
summary{cursor:pointer;color:#2563eb}
.cmd{display:flex;gap:6px;align-items:flex-start;margin-top:6px}
.cmd code{flex:1;min-width:0;background:#f1f5f9;border-radius:6px;padding:5px 7px;white-space:pre-wrap;
overflow-wrap:anywhere;font-size:12px}
.copy{font:inherit;font-size:11px;padding:2px 8px;border:1px solid #cbd5e1;border-radius:6px;background:#fff}
.files{font-size:12px;color:#64748b;overflow-wrap:anywhere}
.files a{color:#2563eb}
.id{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;margin-left:4px}
.empty{padding:40px;text-align:center;color:#64748b}
footer{color:#94a3b8;font-size:12px;margin-top:16px}
@media (max-width:600px){main{padding:12px 10px 28px}h1{font-size:19px}#count{margin-left:0}}
"""

_SCRIPT = """
(function () {
  var cards = Array.prototype.slice.call(document.querySelectorAll('.card'));
  var form = document.getElementById('filters');
  var count = document.getElementById('count');
  function value(id) { var el = document.getElementById(id); return el ? el.value : ''; }
  function apply() {
    var kind = value('f-kind'), backend = value('f-backend'), model = value('f-model');
    var from = value('f-from'), to = value('f-to');
    var words = value('f-text').toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    cards.forEach(function (card) {
      var d = card.dataset;
      var ok = (!kind || d.kind === kind) && (!backend || d.backend === backend) &&
        (!model || d.model === model) && (!from || d.day >= from) && (!to || d.day <= to) &&
        words.every(function (w) { return d.text.indexOf(w) !== -1; });
      card.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + ' of ' + cards.length + ' shown';
  }
  form.addEventListener('input', apply);
  form.addEventListener('change', apply);
  form.addEventListener('reset', function () { setTimeout(apply, 0); });
  function reveal() {
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.hidden) { form.reset(); apply(); target.scrollIntoView(); }
  }
  window.addEventListener('hashchange', reveal);
  function load(video) {
    if (!video.getAttribute('src') && video.dataset.src) {
      video.preload = 'metadata';
      video.src = video.dataset.src;
    }
  }
  var videos = Array.prototype.slice.call(document.querySelectorAll('video[data-src]'));
  if ('IntersectionObserver' in window) {
    var seen = new IntersectionObserver(function (items) {
      items.forEach(function (it) {
        if (it.isIntersecting) { load(it.target); seen.unobserve(it.target); }
      });
    }, {rootMargin: '600px'});
    videos.forEach(function (v) { seen.observe(v); v.addEventListener('play', function () { load(v); }); });
  } else {
    videos.forEach(load);
  }
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('button.copy');
    if (!button) { return; }
    var code = button.previousElementSibling;
    var select = function () {  // no clipboard here: select the command, for Ctrl-C
      var range = document.createRange(), sel = window.getSelection();
      range.selectNodeContents(code); sel.removeAllRanges(); sel.addRange(range);
      button.textContent = 'selected';
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      var copied = function () { button.textContent = 'copied'; };
      navigator.clipboard.writeText(code.textContent).then(copied, select);
    } else {
      select();
    }
  });
  apply();
  reveal();
})();
"""

SCRIPT_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
"""The CSP source that allows the page's one inline script (the server sends it)."""


def render_page(gallery: Gallery, url_for: UrlFor, *, generated_at: float | None = None) -> str:
    """The whole page for ``gallery``; ``url_for(media)`` gives each file's URL (None: not linked)."""
    entries = gallery.entries
    shown = {e.id for e in entries}
    cards = "".join(_card(e, url_for, shown, gallery.others) for e in entries)
    kinds = {e.kind for e in entries}
    summary = gallery.summary() if entries else "nothing made yet"
    generated = time.strftime("%Y-%m-%d %H:%M", time.localtime(generated_at or time.time()))
    body = (
        f'<section class="grid">{cards}</section>'
        if entries
        else '<p class="empty">Nothing made yet. Try '
        '<code>arthur-gen image "a lighthouse at dusk"</code>.</p>'
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>arthur-gen gallery</title><style>{_CSS}</style></head>
<body><main>
<header><h1>arthur-gen · gallery</h1>
<div class="muted">{_e(summary)} · generated {_e(generated)}</div></header>
<form class="filters" id="filters" role="search">
{_select("kind", "kind", kinds)}
{_select("backend", "backend", {e.backend for e in entries})}
{_select("model", "model", {e.model for e in entries})}
<label class="grow">text<input type="search" id="f-text" placeholder="prompt, job id, model"></label>
<label>from<input type="date" id="f-from"></label>
<label>to<input type="date" id="f-to"></label>
<button type="reset">clear</button>
<span id="count">{len(entries)} of {len(entries)} shown</span>
</form>
{body}
<footer>Newest first. Made by <code>arthur-gen gallery</code>; files are linked from the output
folders, not copied.</footer>
</main><script>{_SCRIPT}</script></body></html>
"""


def write_gallery(path: str | Path) -> Path:
    """Write the gallery of every image and video made to ``path`` (one HTML file); returns it.

    Outputs are referenced by paths relative to the page's folder, so the page keeps working
    when that folder and the output folders move together.
    """
    return write_page(path)[0]


def write_page(path: str | Path) -> tuple[Path, Gallery]:
    """:func:`write_gallery`, also returning what the page shows."""
    from ..errors import ArthurGenError, InvalidRequestError

    target = Path(path).expanduser().absolute()
    for folder in target.parents:  # the nearest existing folder above it must be a folder
        if folder.exists():
            if not folder.is_dir():
                raise InvalidRequestError(f"cannot write {target}: {folder} is a file, not a folder")
            break
    if target.is_dir():
        raise InvalidRequestError(f"{target} is a folder; give the HTML file to write, e.g. gallery.html")
    gallery = load()
    page = render_page(gallery, relative_url_for(target.parent))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(target, page.encode("utf-8"))
    except OSError as exc:
        raise ArthurGenError(f"cannot write the gallery to {target}: {exc.strerror or exc}") from None
    return target, gallery
