"""HTML renderer of the document model: one self-contained file.

Why inline everything: reports are opened from a shared folder or an e-mail,
often offline; figures are embedded as base64 PNG and the CSS is inline, so
nothing is fetched from a CDN or a neighbouring file. Jinja2 autoescaping
keeps artifact text (case ids, dataset names) from becoming markup.
"""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2

from training.report.doc import Bullets, Document, Figure, Note, Paragraph, Table

TEMPLATE = r"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ doc.title }}</title>
<style>
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #1b1b1b; margin: 0; background: #f4f5f7; }
main { max-width: 980px; margin: 0 auto; background: #fff; padding: 2rem 2.5rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-bottom: 2px solid #0b5394; padding-bottom: .2rem; margin-top: 2rem; }
.subtitle { color: #444; } .meta td { padding: .1rem .8rem .1rem 0; font-size: .9rem; }
table.data { border-collapse: collapse; margin: .6rem 0; font-size: .85rem; width: 100%; }
table.data th { background: #0b5394; color: #fff; text-align: left; padding: .3rem .4rem; }
table.data td { border-bottom: 1px solid #ddd; padding: .25rem .4rem; vertical-align: top; }
caption { caption-side: bottom; text-align: left; color: #555; font-size: .8rem; padding-top: .3rem; }
figure { margin: 1rem 0; text-align: center; display: inline-block; vertical-align: top; }
figure img { width: 100%; }
figcaption { color: #555; font-size: .8rem; }
.note { background: #fff4e5; border-left: 4px solid #e69f00; padding: .5rem .8rem; margin: .6rem 0; }
nav ol { columns: 2; font-size: .9rem; }
{% if doc.kind == "slides" %}
main { max-width: none; background: none; padding: 1rem; }
section.slide { width: 960px; height: 540px; margin: 1rem auto; background: #fff; box-shadow: 0 1px 4px #999;
  padding: 1.5rem 2rem; box-sizing: border-box; overflow: hidden; page-break-after: always; }
section.slide h2 { margin-top: 0; } section.slide figure img { max-height: 300px; }
{% endif %}
</style></head>
<body><main>
{% if doc.kind == "slides" %}<section class="slide" id="title">{% endif %}
<h1>{{ doc.title }}</h1>
<p class="subtitle">{{ doc.subtitle }}</p>
<table class="meta">{% for k, v in doc.meta %}<tr><td><strong>{{ k }}</strong></td><td>{{ v }}</td></tr>{% endfor %}</table>
{% if doc.kind == "slides" %}</section>{% else %}
<nav><strong>Contents</strong><ol>{% for s in doc.sections %}<li><a href="#{{ s.key }}">{{ s.title }}</a></li>{% endfor %}</ol></nav>
{% endif %}
{% for s in doc.sections %}
<section id="{{ s.key }}"{% if doc.kind == "slides" %} class="slide"{% endif %}>
<h2>{{ s.title }}</h2>
{% for b in s.blocks %}{{ render(b) }}{% endfor %}
</section>
{% endfor %}
</main></body></html>
"""


def _image_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _block(env: jinja2.Environment):
    esc = jinja2.utils.markupsafe.escape
    Markup = jinja2.utils.markupsafe.Markup

    def render(block) -> Markup:
        if isinstance(block, Paragraph):
            inner = f"<strong>{esc(block.text)}</strong>" if block.strong else esc(block.text)
            return Markup(f"<p>{inner}</p>\n")
        if isinstance(block, Bullets):
            return Markup("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in block.items) + "</ul>\n")
        if isinstance(block, Note):
            return Markup(f'<div class="note">{esc(block.text)}</div>\n')
        if isinstance(block, Table):
            head = "".join(f"<th>{esc(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in block.rows)
            caption = f"<caption>{esc(block.caption)}</caption>" if block.caption else ""
            return Markup(f'<table class="data">{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>\n')
        if isinstance(block, Figure):
            if not Path(block.path).is_file():
                return Markup(f'<div class="note">Figure missing: {esc(str(block.path))}</div>')
            return Markup(f'<figure style="width:{int(block.width * 100) - 2}%"><img src="{_image_uri(block.path)}" '
                          f'alt="{esc(block.caption)}"><figcaption>{esc(block.caption)}</figcaption></figure>\n')
        raise TypeError(f"unknown block {type(block).__name__}")

    return render


def render_html(doc: Document, path: Path) -> Path:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    html = env.from_string(TEMPLATE).render(doc=doc, render=_block(env))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
    return path
