"""Headless Chromium for the tests, driven over the DevTools protocol with the standard library.

:class:`Chromium` starts Debian's ``chromium`` with ``--remote-debugging-pipe``: Chromium then
reads DevTools (CDP) commands from its file descriptor 3 and writes replies and events to file
descriptor 4, each message one JSON object terminated by a NUL byte. No websocket or CDP
library is needed. A reader thread splits the stream into replies (matched to the command by
``id``) and events (kept, in order, in :attr:`Chromium.events`). Commands go to one page
(tab), attached in "flat" mode, so every page-level message carries its ``sessionId``.

On top of the client, :func:`audit_page` loads one page and reports what a reader would notice
(script errors, console errors, resources that failed to load, broken images, a layout that
does not fit 1280 px) and takes a full-page screenshot; :func:`check_links` checks the
relative links of a built HTML site statically; :func:`discover_pages` finds the pages.

Example::

    with Chromium() as browser:
        audit = audit_page(browser, Path("site/index.html"))
        assert not audit.problems(), audit.problems()
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

#: Flags for a headless Chromium on a machine without network, display, dbus or GPU.
#: Without the background-networking flags Chromium stalls on a closed network.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-default-apps",
                  "--disable-extensions", "--hide-scrollbars", "--mute-audio",
                  "--force-color-profile=srgb")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chromium_path() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else ``chromium`` (Debian) on the PATH."""
    name = os.environ.get("CHROMIUM") or "chromium"
    return shutil.which(name)


def chromium_available() -> bool:
    """True when Chromium is installed and answers ``--version``."""
    exe = chromium_path()
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "Chromium" in out.stdout


class CDPError(RuntimeError):
    """A DevTools command failed, timed out, or the browser went away."""


class Chromium:
    """A headless Chromium with one page, controlled over ``--remote-debugging-pipe``.

    Use as a context manager (or call :meth:`start` and :meth:`close`). :meth:`send` runs a
    command on the page and returns its ``result``; events arrive in :attr:`events` as
    ``{"method": ..., "params": ...}`` dicts and can be awaited with :meth:`wait_event`.
    """

    def __init__(self, executable: str | None = None, *, width: int = 1280, height: int = 900,
                 timeout: float = 30.0, extra_flags: tuple[str, ...] = ()):
        self.executable = executable or chromium_path()
        if self.executable is None:
            raise FileNotFoundError("chromium not found (install Debian's chromium or set CHROMIUM)")
        self.width, self.height, self.timeout = width, height, timeout
        self.extra_flags = tuple(extra_flags)
        self.events: list[dict[str, Any]] = []
        self.session_id: str | None = None
        self._replies: dict[int, dict[str, Any]] = {}
        self._next_id = 0
        self._cond = threading.Condition()
        self._eof = False
        self._proc: subprocess.Popen | None = None
        self._profile: str | None = None
        self._to_browser: int | None = None
        self._from_browser: int | None = None
        self._reader: threading.Thread | None = None
        self._stderr = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "Chromium":
        """Start the browser, open a page of ``width`` x ``height`` CSS px and enable the
        ``Page``, ``Runtime``, ``Log`` and ``Network`` domains on it."""
        self._profile = tempfile.mkdtemp(prefix="cartbook-chromium-")
        cmd_r, cmd_w = os.pipe()    # we write commands -> Chromium's fd 3
        evt_r, evt_w = os.pipe()    # Chromium's fd 4 -> we read replies and events

        def child_fds() -> None:
            # In the child, before exec: put our pipe ends at fds 3 and 4. os.pipe() gives
            # close-on-exec fds at arbitrary numbers (possibly 3 or 4 themselves), so copy them
            # above 9 first; dup2 then makes inheritable copies at 3 and 4.
            r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10)
            w = fcntl.fcntl(evt_w, fcntl.F_DUPFD_CLOEXEC, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        argv = [self.executable, *CHROMIUM_FLAGS, *self.extra_flags, "--remote-debugging-pipe",
                f"--user-data-dir={self._profile}", f"--window-size={self.width},{self.height}",
                "about:blank"]
        self._stderr = tempfile.TemporaryFile()
        try:
            # close_fds=False: closing would happen after child_fds and take 3 and 4 with it;
            # Python's own descriptors are close-on-exec anyway (PEP 446).
            self._proc = subprocess.Popen(argv, preexec_fn=child_fds, close_fds=False,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=self._stderr)
        finally:
            os.close(cmd_r)
            os.close(evt_w)
        self._to_browser, self._from_browser = cmd_w, evt_r
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()

        target = self.send_browser("Target.createTarget", url="about:blank")["targetId"]
        self.session_id = self.send_browser("Target.attachToTarget", targetId=target,
                                            flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Network.setCacheDisabled", cacheDisabled=True)
        self.set_viewport(self.width, self.height)
        return self

    def close(self) -> None:
        """Ask the browser to quit, then make sure it has; remove its temporary profile."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None and not self._eof:
                try:
                    self.send_browser("Browser.close", timeout=5)
                except CDPError:
                    pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for fd in (self._to_browser, self._from_browser):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._to_browser = self._from_browser = None
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        if self._profile:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None

    def __enter__(self) -> "Chromium":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    # -- protocol ----------------------------------------------------------------------------
    def _read_loop(self) -> None:
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            *messages, buf = buf.split(b"\0")
            with self._cond:
                for raw in messages:
                    if not raw:
                        continue
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode(errors="replace").splitlines()
                 if "dbus" not in ln]          # dbus complaints are harmless noise
        return "\n".join(lines[-15:])

    def call(self, method: str, params: dict[str, Any] | None = None, *,
             session_id: str | None = None, timeout: float | None = None) -> dict[str, Any]:
        """Send one command (to the page session ``session_id``, or to the browser when
        ``None``) and wait for its reply; return its ``result`` or raise :class:`CDPError`."""
        if self._to_browser is None:
            raise CDPError("browser not started")
        with self._cond:
            self._next_id += 1
            msg_id = self._next_id
        msg: dict[str, Any] = {"id": msg_id, "method": method, "params": params or {}}
        if session_id:
            msg["sessionId"] = session_id
        try:
            os.write(self._to_browser, json.dumps(msg).encode() + b"\0")
        except OSError as exc:
            raise CDPError(f"{method}: browser gone ({exc})\n{self._stderr_tail()}") from exc
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while msg_id not in self._replies:
                left = deadline - time.monotonic()
                if self._eof:
                    raise CDPError(f"{method}: browser exited\n{self._stderr_tail()}")
                if left <= 0:
                    raise CDPError(f"{method}: no reply within {timeout or self.timeout} s")
                self._cond.wait(left)
            reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')} "
                           f"({reply['error'].get('data', '')})")
        return reply.get("result", {})

    def send(self, method: str, *, timeout: float | None = None, **params: Any) -> dict[str, Any]:
        """Run ``method`` with keyword ``params`` on the page; return the result dict."""
        return self.call(method, params, session_id=self.session_id, timeout=timeout)

    def send_browser(self, method: str, *, timeout: float | None = None,
                     **params: Any) -> dict[str, Any]:
        """Run a browser-level command (``Target.*``, ``Browser.*``)."""
        return self.call(method, params, timeout=timeout)

    def wait_event(self, method: str, *, since: int = 0,
                   predicate: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float | None = None) -> dict[str, Any]:
        """Wait for the first event ``method`` (of this page) at index ``since`` or later
        in :attr:`events` that satisfies ``predicate``; return its ``params``."""
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            i = since
            while True:
                while i < len(self.events):
                    ev = self.events[i]
                    i += 1
                    if (ev.get("method") == method and ev.get("sessionId") == self.session_id
                            and (predicate is None or predicate(ev.get("params", {})))):
                        return ev.get("params", {})
                left = deadline - time.monotonic()
                if self._eof:
                    raise CDPError(f"waiting for {method}: browser exited")
                if left <= 0:
                    raise CDPError(f"no {method} within {timeout or self.timeout} s")
                self._cond.wait(left)

    def page_events(self, since: int = 0) -> list[dict[str, Any]]:
        """The events of this page from index ``since`` on (a snapshot)."""
        with self._cond:
            return [ev for ev in self.events[since:] if ev.get("sessionId") == self.session_id]

    # -- conveniences ------------------------------------------------------------------------
    def set_viewport(self, width: int, height: int) -> None:
        """Emulate a desktop window of ``width`` x ``height`` CSS px at device scale 1."""
        self.width, self.height = width, height
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """Evaluate JavaScript in the page (awaiting a returned promise); return its value."""
        res = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                        awaitPromise=True, timeout=timeout)
        if "exceptionDetails" in res:
            det = res["exceptionDetails"]
            raise CDPError(f"evaluate: {det.get('exception', {}).get('description') or det}")
        return res.get("result", {}).get("value")

    def navigate(self, url: str, *, timeout: float | None = None) -> int:
        """Load ``url`` and wait for its load event; return the index in :attr:`events`
        where this navigation's events start."""
        with self._cond:
            start = len(self.events)
        res = self.send("Page.navigate", url=url, timeout=timeout)
        if res.get("errorText"):
            raise CDPError(f"navigate {url}: {res['errorText']}")
        self.wait_event("Page.loadEventFired", since=start, timeout=timeout)
        return start

    def screenshot(self, *, full_page: bool = True, max_height: int = 30000) -> bytes:
        """A PNG of the page at the current width: the whole page (up to ``max_height`` px)
        when ``full_page``, else the viewport."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            height = max(1, min(int(size["height"] + 0.5), max_height))
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1})
        return base64.b64decode(self.send("Page.captureScreenshot", timeout=60, **params)["data"])


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk; ValueError if ``data`` is not a PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


# ---------------------------------------------------------------------------------------------
# Checks of one page in the browser
# ---------------------------------------------------------------------------------------------

#: Waits for MathJax (if the page uses it) and fonts, makes lazy images load, then measures.
_AUDIT_JS = r"""
(async (minFigureWidth) => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) { /* reported as a script error */ }
  }
  if (document.fonts) { await document.fonts.ready; }
  const settle = (img) => img.complete ? null : new Promise((ok) => {
    img.addEventListener('load', ok, {once: true});
    img.addEventListener('error', ok, {once: true});
    setTimeout(ok, 5000);
  });
  for (const img of document.images) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all(Array.from(document.images, settle));
  await new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));

  const root = document.documentElement;
  const vw = root.clientWidth;
  const out = {viewport: vw, scrollWidth: root.scrollWidth, title: document.title,
               images: [], tables: []};
  const describe = (el) => {
    const id = el.id || (el.closest('[id]') || {}).id || '';
    const cap = el.closest('figure, table') && el.closest('figure, table').querySelector('figcaption, caption');
    return (cap ? cap.textContent.trim().replace(/\s+/g, ' ').slice(0, 80) : '') + (id ? ` #${id}` : '');
  };
  const content = (el) => el.closest('main, article, [role=main]');
  for (const img of document.images) {
    const r = img.getBoundingClientRect();
    const cs = getComputedStyle(img);
    out.images.push({
      src: img.getAttribute('src'), loaded: img.complete && img.naturalWidth > 0,
      naturalWidth: img.naturalWidth, width: r.width, right: r.right + window.scrollX,
      shown: cs.display !== 'none' && cs.visibility !== 'hidden' && r.width > 0,
      inContent: !!content(img), where: describe(img)});
  }
  for (const t of document.querySelectorAll('table')) {
    const box = content(t);
    if (!box) continue;
    let scroller = null;
    for (let el = t.parentElement; el && el !== box; el = el.parentElement) {
      const ox = getComputedStyle(el).overflowX;
      if (ox === 'auto' || ox === 'scroll') { scroller = el; break; }
    }
    const container = t.parentElement;
    const r = t.getBoundingClientRect();
    const cell = t.querySelector('td, th');
    out.tables.push({
      where: describe(t), width: r.width, right: r.right + window.scrollX,
      containerWidth: container.clientWidth, contentWidth: box.clientWidth,
      inScroller: !!scroller,
      scrollerRight: scroller ? scroller.getBoundingClientRect().right + window.scrollX : null,
      scrolls: scroller ? scroller.scrollWidth > scroller.clientWidth + 1 : false,
      fontPx: cell ? parseFloat(getComputedStyle(cell).fontSize) : null});
  }
  return out;
})
"""


@dataclass
class PageAudit:
    """What loading one page in Chromium showed; :meth:`problems` lists the failures."""

    path: str
    url: str
    script_errors: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    layout_problems: list[str] = field(default_factory=list)
    scrolling_tables: list[str] = field(default_factory=list)   # hides columns: a failure
    n_images: int = 0
    n_tables: int = 0
    width: int = 0
    screenshot: bytes = field(default=b"", repr=False)
    seconds: float = 0.0

    def problems(self) -> list[str]:
        """Every failure, each prefixed with the page."""
        out = []
        for kind, items in (("script error", self.script_errors),
                            ("console error", self.console_errors),
                            ("failed to load", self.failed_loads),
                            ("external request (the book must work offline)",
                             self.external_requests),
                            ("image not shown", self.broken_images),
                            (f"layout at {self.width} px", self.layout_problems),
                            (f"layout at {self.width} px: table hides columns",
                             self.scrolling_tables)):
            out += [f"{self.path}: {kind}: {item}" for item in items]
        return out


def _remote_object(obj: dict[str, Any]) -> str:
    if "value" in obj:
        return str(obj["value"])
    return str(obj.get("description") or obj.get("unserializableValue") or obj.get("type"))


def _short(url: str, base: str) -> str:
    return url[len(base):] if base and url.startswith(base) else url


def audit_page(browser: Chromium, page: Path, *, root: Path | None = None,
               width: int = 1280, settle: float = 0.3, min_figure_width: int = 400,
               min_font_px: float = 11.0, screenshot: bool = True,
               fresh_storage: bool = True) -> PageAudit:
    """Load ``page`` (a local HTML file) in ``browser`` at ``width`` px and check it.

    Failures: uncaught exceptions (``Runtime.exceptionThrown``), ``console.error`` /
    ``console.assert`` calls and error log entries, file:// resources that failed to load
    (``Network.loadingFailed``), any http(s) request, images that did not load, and at
    ``width`` px: horizontal page scrolling, a table wider than its container outside a
    scroll container, table text smaller than ``min_font_px``, a content image shown
    narrower than ``min(min_figure_width, natural width)`` or cut off at the right edge.
    ``root`` (default: the page's folder) only shortens the reported paths. With
    ``fresh_storage`` the page's local and session storage are emptied first.
    """
    page = Path(page).resolve()
    root = Path(root).resolve() if root else page.parent
    base = root.as_uri() + "/"
    t0 = time.perf_counter()
    audit = PageAudit(path=str(page.relative_to(root)) if page.is_relative_to(root) else str(page),
                      url=page.as_uri(), width=width)
    browser.set_viewport(width, browser.height)
    if fresh_storage:
        # every page is checked as a first visit (a reader arriving from a link), whatever
        # the order: file:// pages share one localStorage, which themes write to
        browser.evaluate("try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}")
    start = browser.navigate(audit.url)
    info = browser.evaluate(f"{_AUDIT_JS}({min_figure_width})", timeout=60)
    time.sleep(settle)     # let late timers and async scripts report their errors

    requests: dict[str, str] = {}
    for ev in browser.page_events(start):
        method, p = ev["method"], ev.get("params", {})
        if method == "Runtime.exceptionThrown":
            d = p["exceptionDetails"]
            text = (d.get("exception") or {}).get("description") or d.get("text", "")
            where = f" ({_short(d.get('url', ''), base)}:{d.get('lineNumber', 0) + 1})" \
                if d.get("url") else ""
            audit.script_errors.append(text.splitlines()[0] + where if text else str(d))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            audit.console_errors.append(" ".join(_remote_object(a) for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p["entry"].get("level") == "error":
            entry = p["entry"]
            if entry.get("source") == "network":
                continue        # the same failure is reported by Network.loadingFailed
            audit.console_errors.append(f"[{entry.get('source')}] {entry.get('text')}"
                                        + (f" ({_short(entry['url'], base)})"
                                           if entry.get("url") else ""))
        elif method == "Network.requestWillBeSent":
            url = p["request"]["url"]
            requests[p["requestId"]] = url
            if url.startswith(("http:", "https:", "ws:", "wss:")):
                audit.external_requests.append(url)
        elif method == "Network.loadingFailed":
            url = requests.get(p["requestId"], "?")
            if p.get("canceled") and not url.startswith("file:"):
                continue
            audit.failed_loads.append(f"{_short(url, base)} ({p.get('errorText')}"
                                      f"{', blocked: ' + p['blockedReason'] if p.get('blockedReason') else ''})")

    vw = info["viewport"]
    if info["scrollWidth"] > vw + 1:
        audit.layout_problems.append(f"page scrolls horizontally: {info['scrollWidth']} px wide "
                                     f"in a {vw} px viewport")
    audit.n_images = len(info["images"])
    for img in info["images"]:
        if not img["loaded"]:
            audit.broken_images.append(f"{img['src']} did not load {img['where']}".rstrip())
            continue
        if not (img["inContent"] and img["shown"]):
            continue
        want = min(min_figure_width, img["naturalWidth"])
        if img["width"] + 1 < want:
            audit.layout_problems.append(
                f"image {img['src']} shown {img['width']:.0f} px wide (natural "
                f"{img['naturalWidth']} px; at least {want} px needed) {img['where']}".rstrip())
        if img["right"] > vw + 1:
            audit.layout_problems.append(f"image {img['src']} cut off: right edge at "
                                         f"{img['right']:.0f} px > {vw} px {img['where']}".rstrip())
    audit.n_tables = len(info["tables"])
    for i, t in enumerate(info["tables"], 1):
        label = f"table {i} {t['where']}".rstrip()
        if t["inScroller"]:
            if t["scrollerRight"] > vw + 1:
                audit.layout_problems.append(f"{label}: its scroll container ends at "
                                             f"{t['scrollerRight']:.0f} px > {vw} px")
            if t["scrolls"]:
                audit.scrolling_tables.append(f"{label}: {t['width']:.0f} px, scrolls "
                                              f"inside {t['containerWidth']} px")
        elif t["width"] > t["containerWidth"] + 1 or t["right"] > vw + 1:
            audit.layout_problems.append(
                f"{label} is {t['width']:.0f} px wide, its container {t['containerWidth']} px "
                f"(right edge {t['right']:.0f} px, viewport {vw} px) and it is not in a "
                "scroll container")
        if t["fontPx"] is not None and t["fontPx"] < min_font_px:
            audit.layout_problems.append(f"{label}: text {t['fontPx']:.1f} px < {min_font_px} px")
    if screenshot:
        audit.screenshot = browser.screenshot(full_page=True)
    audit.seconds = time.perf_counter() - t0
    return audit


# ---------------------------------------------------------------------------------------------
# Static checks of a built site
# ---------------------------------------------------------------------------------------------

_SKIP_SCHEMES = ("http:", "https:", "mailto:", "javascript:", "data:", "tel:", "ftp:")


class _PageParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str, int]] = []     # (attribute, value, line)
        self.refresh: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v for k, v in attrs if v is not None}
        for key in ("id",) + (("name",) if tag == "a" else ()):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if key in a and tag not in ("base",):
                self.links.append((f"<{tag} {key}>", a[key], self.getpos()[0]))
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            m = re.search(r"url\s*=\s*['\"]?([^'\"]+)", a.get("content", ""), re.I)
            if m:
                self.refresh = m.group(1).strip()
                self.links.append(("<meta refresh>", self.refresh, self.getpos()[0]))


def parse_page(path: Path) -> _PageParser:
    """The ids, relative links and meta-refresh target of one HTML file."""
    parser = _PageParser()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    parser.close()
    return parser


def _resolve(page: Path, link: str) -> tuple[Path | None, str]:
    """(target file or None for the same page, fragment) of a relative link."""
    parts = urlsplit(link)
    target = None
    if parts.path:
        target = (page.parent / unquote(parts.path)).resolve()
        if target.is_dir():
            target = target / "index.html"
    return target, unquote(parts.fragment)


def check_links(html_root: Path, pages: list[Path] | None = None) -> list[str]:
    """Broken relative links (``href``/``src``/meta refresh) in ``pages`` (default:
    :func:`site_pages`): the target file must exist inside ``html_root`` and a
    ``#fragment`` must be an ``id`` (or ``<a name>``) of the target page. External links
    (http, https, mailto, ...) are ignored."""
    html_root = Path(html_root).resolve()
    pages = [Path(p).resolve() for p in pages] if pages is not None else site_pages(html_root)
    cache: dict[Path, set[str]] = {}

    def ids(path: Path) -> set[str]:
        if path not in cache:
            cache[path] = parse_page(path).ids
        return cache[path]

    problems = []
    for page in pages:
        parsed = parse_page(page)
        cache[page] = parsed.ids
        rel = page.relative_to(html_root)
        for what, link, line in parsed.links:
            link = link.strip()
            if not link or link == "#" or link.lower().startswith(_SKIP_SCHEMES) \
                    or link.startswith("//"):
                continue
            target, fragment = _resolve(page, link)
            where = f"{rel}:{line}: {what} {link!r}"
            if target is not None:
                if not target.is_relative_to(html_root):
                    problems.append(f"{where}: points outside the built site")
                    continue
                if not target.is_file():
                    problems.append(f"{where}: {target.relative_to(html_root)} does not exist")
                    continue
            if fragment and (target is None or target.suffix == ".html") \
                    and fragment not in ids(target or page):
                name = target.relative_to(html_root) if target else rel
                problems.append(f"{where}: no id {fragment!r} in {name}")
    return problems


#: Generated pages that are not chapters and are not opened in the browser.
NOT_CHAPTERS = {"genindex.html", "search.html", "py-modindex.html"}
_NOT_CONTENT_DIRS = {"_static", "_sources", "_images", "_downloads", "_sphinx_design_static"}


def site_pages(html_root: Path) -> list[Path]:
    """Every HTML page of a built site, ``genindex``/``search`` included, without the theme's
    template fragments under ``_static`` and the like."""
    html_root = Path(html_root).resolve()
    return sorted(p for p in html_root.rglob("*.html")
                  if not (set(p.relative_to(html_root).parts[:-1]) & _NOT_CONTENT_DIRS))


def discover_pages(html_root: Path) -> tuple[Path, list[Path]]:
    """(landing page, every content page) of a built book.

    Starts at ``html_root/index.html``, follows its meta refresh (Jupyter Book's root
    ``index.html`` only redirects) and then every relative link to an ``.html`` page,
    and adds any other ``*.html`` outside ``_static`` & co. (pages not linked from the
    table of contents). ``genindex``/``search`` and redirect-only pages are left out.
    """
    html_root = Path(html_root).resolve()
    entry = html_root / "index.html"
    redirects: set[Path] = set()
    landing = entry
    seen: set[Path] = set()
    queue = [entry]
    while queue:
        page = queue.pop(0)
        if page in seen or not page.is_file():
            continue
        seen.add(page)
        parsed = parse_page(page)
        if parsed.refresh:
            redirects.add(page)
            if page == landing:
                target, _ = _resolve(page, parsed.refresh)
                landing = target or page
        for _, link, _ in parsed.links:
            if link.lower().startswith(_SKIP_SCHEMES) or link.startswith(("#", "//")):
                continue
            target, _ = _resolve(page, link)
            if target and target.suffix == ".html" and target.is_relative_to(html_root):
                queue.append(target)
    pages = sorted(p for p in seen | set(site_pages(html_root))
                   if p.is_file() and p not in redirects and p.name not in NOT_CHAPTERS
                   and not (set(p.relative_to(html_root).parts[:-1]) & _NOT_CONTENT_DIRS))
    return landing, pages


def screenshot_name(html_root: Path, page: Path) -> str:
    """``book/_generated/cohort.html`` -> ``book__generated_cohort.png``."""
    rel = Path(page).resolve().relative_to(Path(html_root).resolve()).with_suffix("")
    return "_".join(rel.parts) + ".png"
