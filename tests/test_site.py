"""The course site (scripts/build_site.py, nbconvert with the course's template) in headless
Chromium: every page loads, no broken link or image inside the site, every figure has a text
alternative, widget state is embedded, and axe-core finds no serious or critical accessibility
violation.

CI builds the whole site once, in the Colab-pinned environment, and points GENLEARN_SITE at
it (.ci/run); without it this test builds a site of lesson 00 alone (about 15 s).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
from pathlib import Path
from urllib.parse import urljoin, urlparse

import pytest

import browser_support as bs
import build_site

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.browser, pytest.mark.slow]
SERIOUS = ("serious", "critical")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    given = os.environ.get("GENLEARN_SITE")
    if given:
        site = Path(given)
        built = [r["lesson"] for r in json.loads((site / "site.json").read_text())["lessons"]]
        lessons = [p.stem for p in sorted((ROOT / "lessons").glob("[0-9][0-9]_*.ipynb"))]
        assert built == lessons or not bs.in_ci(), f"GENLEARN_SITE holds lessons {built}, the course has {lessons}: rebuild it"
        return site
    if bs.in_ci():
        pytest.fail("under CI, .ci/run builds the whole site and sets GENLEARN_SITE", pytrace=False)
    site = tmp_path_factory.mktemp("site")
    assert build_site.main([str(site), "--lessons", "00"]) == 0
    return site


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_site_pages_links_images_and_accessibility(site, server):
    """Crawl from index.html: each page answers 200, loads without a console error, has no
    broken in-site link or image and no image without alt text; axe-core runs on each page."""
    from axe_playwright_python.sync_playwright import Axe
    from playwright.sync_api import sync_playwright

    chromium = bs.require_browser()
    report = json.loads((site / "site.json").read_text())
    assert report["figures"], "the site shows no figures"
    assert all(f["alt"].strip() for f in report["figures"]), "a figure has an empty text alternative"
    assert any(f["widget"] for f in report["figures"]), "no widget left a static picture on the site"
    assert not report["problems"], report["problems"]
    for lesson in report["lessons"]:  # nbconvert embeds the widgets' saved state in the page
        text = (site / "lessons" / f"{lesson['lesson']}.html").read_text()
        if lesson["widget_controls"]:
            assert 'type="application/vnd.jupyter.widget-state+json"' in text, lesson

    axe, counts, serious, broken = Axe(), {}, [], []
    with sync_playwright() as p:
        browser = bs.launch_chromium(p, chromium)
        context = browser.new_context()
        # The site is read online, where MathJax comes from its CDN; here nothing leaves the machine.
        context.route(lambda url: not url.startswith(server), lambda route: route.abort())
        page = context.new_page()
        console_errors = []
        page.on("console", lambda m: console_errors.append(f"{page.url}: {m.text}") if m.type == "error"
                and "net::ERR_FAILED" not in m.text else None)
        todo, seen = [server + "index.html"], set()
        while todo:
            url = todo.pop(0)
            if url in seen:
                continue
            seen.add(url)
            response = page.goto(url)
            assert response and response.status == 200, f"{url} answered {response and response.status}"
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "img", "els => els.map(e => ({src: e.src.slice(0, 60), ok: e.complete && e.naturalWidth > 0, "
                "alt: e.getAttribute('alt')}))")
            broken += [f"{url}: image {i['src']} does not load" for i in images if not i["ok"]]
            broken += [f"{url}: image {i['src']} has no alt text" for i in images if not (i["alt"] or "").strip()]
            for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
                target = urljoin(url, href)
                if not target.startswith(server):
                    continue  # Binder, Colab, the repository, papers: outside this site
                path = site / urlparse(target).path.lstrip("/")
                if not path.is_file():
                    broken.append(f"{url}: link {href} -> missing {path.relative_to(site)}")
                elif path.suffix == ".html":
                    todo.append(target.split("#")[0])
            results = axe.run(page)
            for v in results.response["violations"]:
                counts[v["impact"]] = counts.get(v["impact"], 0) + 1
                if v["impact"] in SERIOUS:
                    serious.append(f"{url}: {v['id']} ({v['impact']}): {v['help']}, "
                                   f"{len(v['nodes'])} nodes, e.g. {v['nodes'][0]['html'][:120]}")
        browser.close()
    pages = len(seen)
    print(f"\nsite: {pages} pages; axe-core violations by impact: {counts or 'none'}")
    expected_pages = 1 + len(report["lessons"])
    assert pages == expected_pages, f"reached {pages} pages from index.html, expected {expected_pages}"
    assert not broken, "\n".join(broken[:20])
    assert not console_errors, "\n".join(console_errors[:10])
    assert not serious, "axe-core: serious or critical violations:\n" + "\n".join(serious)
