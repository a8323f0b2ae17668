#!/usr/bin/env python3
"""The dashboard in a real browser: headless Chromium loads the page from a running node, with
networking held to loopback, and checks what a person would see.

    python3 Tests/Browser/dashboard_check.py --url http://127.0.0.1:7480/ --node 127.0.0.1:7400 \
        --screenshot dashboard.png [--incidentctl .build/debug/incidentctl] [--token TOKEN] \
        [--sector east] [--chromium chromium] [--timeout 60] [--window 1920x1080]

1. Starts Chromium (Debian's `chromium`) headless with a fresh profile, no proxy but a dead one
   (127.0.0.1:9) and a host resolver that resolves no name but 127.0.0.1, driven over the Chrome
   DevTools Protocol on a pipe (--remote-debugging-pipe: standard library only).
2. Loads --url and waits (bounded) until the page says it is ready and its event stream is open
   (body data-state="ready", data-stream="open").
3. Reads every element with data-figure and data-scope and compares its text with the same
   figure of `incidentctl overview --json` (scope `mission`: view.mission; scope `overview`: the
   view itself) and `incidentctl sector S --json` (scope S). Every sector of the overview and the
   mission must be on the page.
4. Appends a medevac request in --sector (default: the overview's first sector) with incidentctl
   and waits, at most 10 s, for the page's medevac figures of the mission and of that sector to
   go up by one and for the request to show in the live feed, with no navigation in between (the
   page must not reload). Then appends an incident whose summary and place hold HTML and waits
   for the list to show it as text, run nothing; then compares every figure again.
5. Saves a screenshot (PNG, the window's size) to --screenshot.
6. Fails when any request the page made (CDP Network events) went elsewhere than loopback, or
   when the page threw a JavaScript exception.

Exit status: 0 pass, 1 fail (each failure printed), 77 skip: Chromium is not installed or cannot
start here (the reason is printed). Everything it starts is stopped before it exits.
"""
import argparse
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

SKIP = 77
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
LOCAL_SCHEMES = {"data", "blob", "about", "chrome", "devtools"}


class Skip(Exception):
    pass


class Failure(Exception):
    pass


class Browser:
    """Chromium headless, driven over CDP on fds 3 and 4 (messages are JSON ended by a NUL)."""

    def __init__(self, binary, window, timeout):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="dashboard-check-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def arrange_fds():
            # Chromium reads commands on fd 3 and writes answers on fd 4; nothing else is inherited.
            r = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            w = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)
            os.closerange(5, 4096)

        args = [
            binary, "--headless", "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
            "--no-first-run", "--no-default-browser-check", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--disable-breakpad", "--metrics-recording-only",
            "--hide-scrollbars", "--mute-audio", f"--window-size={window}",
            "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>;127.0.0.1;localhost;[::1]",
            "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1 , EXCLUDE localhost",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # Chromium refuses to run its sandbox as root
        self.stderr = tempfile.TemporaryFile()
        try:
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.stderr,
                                            preexec_fn=arrange_fds, close_fds=False)
        except OSError as e:
            raise Skip(f"cannot start {binary}: {e}")
        finally:
            os.close(to_chrome_r)
            os.close(from_chrome_w)
        self.next_id = 0
        self.answers = {}
        self.events = []
        self.lock = threading.Condition()
        self.closed = False
        threading.Thread(target=self._read, daemon=True).start()
        try:
            self.call("Browser.getVersion", timeout=min(30, timeout))
        except Failure as e:
            self.close()
            raise Skip(f"chromium did not start ({e}); its stderr ends: {self.stderr_tail()}")

    def stderr_tail(self):
        self.stderr.seek(0)
        lines = [l for l in self.stderr.read().decode(errors="replace").splitlines() if "dbus" not in l]
        return " | ".join(lines[-5:]) or "(nothing)"

    def _read(self):
        buffer = b""
        while True:
            try:
                chunk = os.read(self.from_chrome, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self.lock:
                    self.closed = True
                    self.lock.notify_all()
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                with self.lock:
                    if "id" in message:
                        self.answers[message["id"]] = message
                    else:
                        self.events.append(message)
                    self.lock.notify_all()

    def call(self, method, params=None, session=None, timeout=None):
        with self.lock:
            self.next_id += 1
            ident = self.next_id
        message = {"id": ident, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        except OSError as e:
            raise Failure(f"{method}: the browser is gone ({e})")
        deadline = time.monotonic() + (timeout or self.timeout)
        with self.lock:
            while ident not in self.answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise Failure(f"{method}: no answer from the browser")
                self.lock.wait(left)
            answer = self.answers.pop(ident)
        if "error" in answer:
            raise Failure(f"{method}: {answer['error'].get('message')}")
        return answer.get("result", {})

    def events_named(self, method):
        with self.lock:
            return [e for e in self.events if e.get("method") == method]

    def close(self):
        try:
            if self.process.poll() is None:
                try:
                    self.call("Browser.close", timeout=5)
                except Failure:
                    pass
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
        finally:
            for fd in (self.to_chrome, self.from_chrome):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser):
        self.browser = browser
        target = browser.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.call(f"{domain}.enable")

    def call(self, method, params=None, timeout=None):
        return self.browser.call(method, params, session=self.session, timeout=timeout)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise Failure(f"evaluating {expression[:60]}…: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression, seconds, what):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.evaluate(expression):
                return
            time.sleep(0.1)
        raise Failure(f"waited {seconds} s for {what}")

    def mine(self, method):
        return [e["params"] for e in self.browser.events_named(method) if e.get("sessionId") == self.session]


FIGURES_JS = """JSON.stringify([...document.querySelectorAll('[data-figure][data-scope]')].map(
    (e) => ({scope: e.dataset.scope, figure: e.dataset.figure, text: e.textContent.trim()})))"""


def incidentctl(binary, node, token, *args):
    env = dict(os.environ)
    if token:
        env["INCIDENTCTL_TOKEN"] = token
    out = subprocess.run([binary, *args, "--node", node], capture_output=True, text=True, env=env, timeout=30)
    if out.returncode != 0:
        raise Failure(f"incidentctl {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def lookup(view, path):
    value = view
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            return KeyError
        value = value[key]
    return value


def same(text, expected):
    """The page's text for a figure against the view's value: numbers by value, null as a dash."""
    if expected is None:
        return text in ("–", "-", "")
    if isinstance(expected, bool) or not isinstance(expected, (int, float)):
        return text == str(expected)
    try:
        return float(text.replace("\u202f", "").replace(",", "")) == float(expected)
    except ValueError:
        return False


def compare_figures(page, views, sectors):
    """Every figure on the page against the node's views; returns the number compared."""
    shown = json.loads(page.evaluate(FIGURES_JS))
    problems = []
    scopes = set()
    for f in shown:
        scope = f["scope"]
        scopes.add(scope)
        if scope == "overview":
            view = views["overview"]["view"]
        elif scope == "mission":
            view = views["overview"]["view"]["mission"]
        elif scope in views["sector"]:
            view = views["sector"][scope]["view"]
        else:
            problems.append(f"figure {f['figure']} of unknown scope {scope!r}")
            continue
        expected = lookup(view, f["figure"])
        if expected is KeyError:
            problems.append(f"{scope} {f['figure']}: not in the view")
        elif not same(f["text"], expected):
            problems.append(f"{scope} {f['figure']}: page shows {f['text']!r}, the view has {expected!r}")
    missing = ({"mission"} | set(sectors)) - scopes
    if missing:
        problems.append(f"no figures on the page for {', '.join(sorted(missing))}")
    if problems:
        raise Failure("figures differ from the views:\n  " + "\n  ".join(problems[:40]))
    return len(shown)


def compare_figures_settled(page, args, sectors, seconds):
    """compare_figures, retried for up to `seconds` while the page catches up with events just
    appended (it refetches a view at most once a second)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return compare_figures(page, fetch_views(args, sectors), sectors)
        except Failure:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def fetch_views(args, sectors):
    views = {"overview": json.loads(incidentctl(args.incidentctl, args.node, args.token, "overview", "--json")), "sector": {}}
    for s in sectors:
        views["sector"][s] = json.loads(incidentctl(args.incidentctl, args.node, args.token, "sector", s, "--json"))
    return views


def figure(page, scope, path):
    return page.evaluate(f"(() => {{ const e = document.querySelector('[data-scope=\"{scope}\"][data-figure=\"{path}\"]'); return e ? e.textContent.trim() : null; }})()")


def weight(page):
    """Bytes received per kind of request so far: the page and its assets, the vendor libraries,
    the API's answers (the event stream left out: it never finishes)."""
    urls = {p["requestId"]: p["request"]["url"] for p in page.mine("Network.requestWillBeSent")}
    sums = {"page+assets": 0, "vendor": 0, "api": 0}
    for p in page.mine("Network.loadingFinished"):
        path = urllib.parse.urlsplit(urls.get(p["requestId"], "")).path
        kind = "vendor" if path.startswith("/vendor/") else "api" if path.startswith("/api/") else "page+assets"
        sums[kind] += int(p["encodedDataLength"])
    sums["all"] = sum(sums.values())
    return sums


def check(args):
    binary = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not binary:
        raise Skip("no chromium on PATH (Debian: apt-get install chromium)")
    if not os.access(binary, os.X_OK):
        raise Skip(f"{binary} is not an executable file")
    browser = Browser(binary, args.window, args.timeout)
    try:
        page = Page(browser)
        url = args.url
        if args.token:
            url += ("&" if "#" in url else "#") + "token=" + urllib.parse.quote(args.token)
        width, height = (int(n) for n in args.window.split(","))
        page.call("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        started = time.monotonic()
        page.call("Page.navigate", {"url": url})
        page.wait_for("document.body && document.body.dataset.state === 'ready'", args.timeout, "the page to load its data")
        print(f"ok: the page showed its data after {time.monotonic() - started:.1f} s")
        page.wait_for("document.body.dataset.stream === 'open'", args.timeout, "the page's event stream to open")
        if args.token and args.token in page.evaluate("location.href"):
            raise Failure("the token stayed in the address bar")
        print("ok: page weight, bytes on the wire: " + ", ".join(f"{k} {v}" for k, v in weight(page).items()))
        overview = json.loads(incidentctl(args.incidentctl, args.node, args.token, "overview", "--json"))
        sectors = [s["sector"] for s in overview["view"]["sectors"]]
        compared = compare_figures(page, fetch_views(args, sectors), sectors)
        print(f"ok: {compared} figures on the page equal the views")

        sector = args.sector or sectors[0]
        page.evaluate("window.__sameDocument = 'dashboard-check'")
        navigations = len(page.mine("Page.frameNavigated"))
        before_mission = figure(page, "mission", "medevac.requested")
        before_sector = figure(page, sector, "medevac.requested")
        data = json.dumps({"priority": "urgent", "patients": 2, "pickup": {"name": "dashboard check", "lat": 16.27, "lon": -0.04}})
        started = time.monotonic()
        incidentctl(args.incidentctl, args.node, args.token, "append", "--type", "medevac.requested", "--sector", sector, "--data", data)
        want = (str(int(before_mission) + 1), str(int(before_sector) + 1))
        page.wait_for(
            f"(() => {{ const t = (s) => (document.querySelector(`[data-scope=\"${{s}}\"][data-figure=\"medevac.requested\"]`) || {{}}).textContent;"
            f" return t('mission') === '{want[0]}' && t('{sector}') === '{want[1]}' && !!document.querySelector('#feed li[data-type=\"medevac.requested\"]'); }})()",
            10, f"the medevac to show (mission {before_mission} → {want[0]}, {sector} {before_sector} → {want[1]}, and in the feed)")
        print(f"ok: the appended medevac showed after {time.monotonic() - started:.1f} s")

        # Text typed in the field is shown as text: markup in a summary or a place name must not run.
        probe = '<img src="/xss-probe" onerror="window.__xss=1">'
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        data = json.dumps({"category": "other", "summary": f"dashboard check {probe}", "occurred_at": now,
                           "location": {"name": f"probe {probe}", "lat": 16.27, "lon": -0.04}})
        incidentctl(args.incidentctl, args.node, args.token, "append", "--type", "incident.reported", "--sector", sector, "--data", data)
        ran = "window.__xss === 1 || !!document.querySelector('img[src=\"/xss-probe\"]')"
        listed = f"document.getElementById('incidents').textContent.includes({json.dumps('dashboard check ' + probe)})"
        page.wait_for(f"{listed} || {ran}", 10, "the incident with markup in its summary to be listed")
        if page.evaluate(ran) or not page.evaluate(listed):
            raise Failure("markup in an event's text became part of the page instead of text")
        print("ok: markup in an event's summary and place is shown as text")
        if page.evaluate("window.__sameDocument") != "dashboard-check" or len(page.mine("Page.frameNavigated")) != navigations:
            raise Failure("the page reloaded to show the change")
        compared = compare_figures_settled(page, args, sectors, 5)
        print(f"ok: after the appends, {compared} figures equal the views; the page did not reload")

        shot = page.call("Page.captureScreenshot", {"format": "png"})
        with open(args.screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        print(f"ok: screenshot in {args.screenshot}")

        requests = [p["request"]["url"] for p in page.mine("Network.requestWillBeSent")]
        away = [u for u in requests if urllib.parse.urlsplit(u).scheme not in LOCAL_SCHEMES and urllib.parse.urlsplit(u).hostname not in LOOPBACK_HOSTS]
        failed = [p for p in page.mine("Network.loadingFailed") if not p.get("canceled")]
        if away:
            raise Failure("requests left loopback:\n  " + "\n  ".join(sorted(set(away))))
        print(f"ok: all {len(requests)} requests went to loopback")
        thrown = page.mine("Runtime.exceptionThrown")
        if thrown:
            raise Failure("the page threw: " + "; ".join(t["exceptionDetails"].get("exception", {}).get("description", t["exceptionDetails"].get("text", "?")).splitlines()[0] for t in thrown))
        errors = [r for r in page.mine("Network.responseReceived") if r["response"]["status"] >= 400]
        if errors or [f for f in failed if "stream" not in f.get("errorText", "")]:
            problems = [f"{r['response']['status']} {r['response']['url']}" for r in errors]
            raise Failure("requests failed: " + "; ".join(problems or [f.get("errorText", "?") for f in failed]))
    finally:
        browser.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the dashboard, e.g. http://127.0.0.1:7480/")
    parser.add_argument("--node", required=True, help="the node's client API (line protocol), HOST:PORT")
    parser.add_argument("--screenshot", required=True, help="where to save the PNG")
    parser.add_argument("--incidentctl", default=os.path.join(os.path.dirname(__file__), "..", "..", ".build", "debug", "incidentctl"))
    parser.add_argument("--token", help="a token with the hq role (sent as #token= and to incidentctl)")
    parser.add_argument("--sector", help="where to append the medevac (default: the first sector)")
    parser.add_argument("--chromium", help="the browser binary (default: chromium on PATH)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds to wait for the page (default 60)")
    parser.add_argument("--window", default="1920,1080", help="window size W,H (default 1920,1080)")
    args = parser.parse_args()
    args.window = args.window.replace("x", ",")
    try:
        check(args)
    except Skip as e:
        print(f"skip: {e}")
        return SKIP
    except Failure as e:
        print(f"FAIL: {e}")
        return 1
    print("pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
