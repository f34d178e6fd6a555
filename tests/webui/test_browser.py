"""The dashboard in a real headless Chromium (playwright, Debian's ``chromium``; docs/web.md 5, docs/stack.md 7)
against the real ``pantheonrl web serve`` on a free loopback port with a fresh data dir.

One flow, in one test (pytest-xdist's default distribution would split separate tests of a module over workers,
each with its own server and browser): log in through the form; launch a small job from the new-experiment form
and see it in the job list with a status that updates without a reload; watch its reward curve gain points on the
job page; download its agent through the page's link and check the zip; launch a long job and cancel it from its
page until CANCELLED, then a cross-play of the two agents from its form to the heatmap. Every page (login, job list,
new experiment, job page, agents, cross-play form and job) is screenshotted and checked:
a PNG of the viewport size that is not blank. Throughout, no console error, no uncaught exception, no CSP
violation, and no request leaves the server's origin. A missing browser is an error, not a skip.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from pantheonrl.play import STAY

PASSWORD = "a good browser password"
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"]
SMALL_STEPS = 12288  # six PPO rollouts of 2048 steps: points on the curve arriving over several seconds
LONG_STEPS = 1_000_000
TIMEOUT_MS = 60_000

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Records the page's CSP violations from the first moment of every document (the init script runs through the
# DevTools protocol, so the CSP does not apply to it).
_CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${where}`);
});
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _chromium() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
    assert path, "Debian's chromium is missing: apt-get install chromium (never `playwright install`)"
    return path


class Server:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.log_path = root / "server.log"
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def start(self) -> None:
        """``pantheonrl web init`` (in this process: the user made with the CLI), then ``web serve`` started."""
        from pantheonrl.cli import main

        pw = self.root / "alice.pw"
        pw.write_text(PASSWORD + "\n")
        assert main(["web", "init", "--data-dir", str(self.data), "--admin", "alice", "--password-file",
                     str(pw)]) == 0
        env = {**os.environ, "PANTHEONRL_AGENTS": str(self.root / "registry")}
        env.pop("PANTHEONRL_SECRET_KEY", None)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "pantheonrl.cli", "web", "serve", "--data-dir", str(self.data), "--port",
                 str(self.port), "--max-workers", "1"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.base + "/login", timeout=5) as response:
                    if response.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            assert self.proc.poll() is None, f"the server exited:\n{self.log_tail()}"
            assert time.monotonic() < deadline, f"the server did not come up:\n{self.log_tail()}"
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._kill_training_processes()

    def _kill_training_processes(self) -> None:
        """Never leave a training process behind (each runs in its own process group)."""
        from pantheonrl.jobs import JobStore, ProcessRef

        if not (self.data / "jobs.sqlite").exists():
            return
        store = JobStore(self.data / "jobs.sqlite")
        try:
            for job in store.list(limit=1000):
                ref = ProcessRef.from_dict(job.backend_ref)
                if ref is not None and ref.alive():
                    os.killpg(ref.pgid, signal.SIGKILL)
        finally:
            store.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """Started here, waited for in ``context`` (the browser starts meanwhile)."""
    srv = Server(tmp_path_factory.mktemp("browser-server"))
    try:
        srv.start()
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=_chromium(), headless=True, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


class Watch:
    """Everything the browser reports that a correct page never causes."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.errors: list[str] = []
        self.foreign: list[str] = []

    def console(self, msg: Any) -> None:
        if msg.type in ("error", "assert"):
            self.errors.append(f"console {msg.type} on {msg.page.url if msg.page else '?'}: {msg.text} "
                               f"({msg.location})")

    def weberror(self, err: Any) -> None:
        self.errors.append(f"uncaught on {err.page.url if err.page else '?'}: {err.error}")

    def request(self, req: Any) -> None:
        parts = urlsplit(req.url)
        if parts.scheme in ("data", "blob", "about"):
            return
        if f"{parts.scheme}://{parts.netloc}" != self.origin:
            self.foreign.append(req.url)

    def check(self, page: Any, where: str) -> None:
        violations = page.evaluate("() => window.__cspViolations || []")
        assert violations == [], f"{where}: CSP violations {violations}"
        assert self.errors == [], f"{where}: {self.errors}"
        assert self.foreign == [], f"{where}: requests outside {self.origin}: {self.foreign}"


@pytest.fixture(scope="module")
def context(browser, server, tmp_path_factory):
    server.wait_ready()
    ctx = browser.new_context(base_url=server.base, viewport=VIEWPORT, accept_downloads=True)
    ctx.set_default_timeout(TIMEOUT_MS)
    ctx.add_init_script(_CSP_LISTENER)
    watch = Watch(server.base)
    ctx.on("console", watch.console)
    ctx.on("weberror", watch.weberror)
    ctx.on("request", watch.request)
    ctx.watch = watch
    ctx.shots = tmp_path_factory.mktemp("screenshots")
    yield ctx
    ctx.close()


def check_screenshot(ctx: Any, page: Any, name: str) -> None:
    """A PNG of exactly the viewport, not blank, from a page without errors; kept next to the test's tmp files."""
    from PIL import Image, ImageStat

    page.wait_for_load_state("load")
    ctx.watch.check(page, name)
    data = page.screenshot()
    (ctx.shots / f"{name}.png").write_bytes(data)
    assert data[:8] == b"\x89PNG\r\n\x1a\n", name
    image = Image.open(io.BytesIO(data))
    image.load()
    assert image.format == "PNG" and image.size == (VIEWPORT["width"], VIEWPORT["height"]), (name, image.size)
    gray = image.convert("L")
    spread = ImageStat.Stat(gray).stddev[0]
    colors = len(gray.getcolors(maxcolors=256) or [])
    assert spread > 8 and colors > 16, f"{name}: the screenshot looks blank (stddev {spread:.1f}, {colors} grays)"


def _points(page: Any) -> int:
    return page.evaluate("() => Number(document.getElementById('curve').dataset.points || 0)")


def _canvas(page: Any) -> str:
    return page.evaluate("() => document.querySelector('#curve canvas').toDataURL()")


def _launch(page: Any, label: str, steps: int, checkpoint_every: int) -> str:
    """Fill the new-experiment form and launch; returns the job id from the job page it lands on."""
    page.goto("/jobs/new")
    form = page.locator("#experiment-form")
    form.locator("select[name=env]").select_option("RPS-v0")
    form.locator("select[name=ego]").select_option("PPO")
    form.locator("select[name=partner_type]").select_option("DEFAULT")
    form.locator("input[name=total_timesteps]").fill(str(steps))
    form.locator("input[name=n_envs]").fill("1")
    form.locator("input[name=seed]").fill("0")
    form.locator("input[name=checkpoint_every]").fill(str(checkpoint_every))
    form.locator("input[name=eval_episodes]").fill("0")
    form.locator("input[name=label]").fill(label)
    with page.expect_navigation():
        form.get_by_role("button", name="Launch").click()
    path = urlsplit(page.url).path
    assert path.startswith("/jobs/") and len(path) == len("/jobs/") + 32, page.url
    job_id = path.rsplit("/", 1)[1]
    assert page.locator("#job").get_attribute("data-job") == job_id
    return job_id


def _badge(page: Any) -> Any:
    return page.locator('#job [data-field="status"]')


def test_dashboard_in_a_real_browser(server, context, tmp_path):
    from playwright.sync_api import expect

    ctx = context
    page = ctx.new_page()
    pages = [page]
    try:
        _flow(ctx, page, pages, server, tmp_path, expect)
    except BaseException:
        for i, p in enumerate(pages):  # screenshots on failure, for the report
            with contextlib.suppress(Exception):  # the page may be gone; keep the original error
                p.screenshot(path=str(tmp_path / f"failure-{i}.png"), full_page=True)
        print(f"failure screenshots in {tmp_path}; server log tail:\n{server.log_tail()}")
        raise


def _flow(ctx: Any, page: Any, pages: list, server: Server, tmp_path: Path, expect: Any) -> None:
    # 1. log in through the form (a page of the dashboard redirects there first)
    page.goto("/jobs")
    assert urlsplit(page.url).path == "/login"
    check_screenshot(ctx, page, "login")
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert urlsplit(page.url).path == "/login"
    # Chromium may log the refused login's 4xx answer as a console error, rightly; nothing else
    assert all("/login" in e and "status of 4" in e for e in ctx.watch.errors), ctx.watch.errors
    ctx.watch.errors.clear()
    page.locator("input[name=username]").fill("alice")
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{server.base}/jobs")
    expect(page.locator(".who")).to_have_text("alice")
    expect(page.locator("#job-table tr.empty")).to_be_visible()

    # 2. the new-experiment form launches a small job; the job list shows it with a live status
    page.goto("/jobs/new")
    expect(page.locator(".only-population").first).to_be_hidden()  # app.js ran: PPO hides the population size
    check_screenshot(ctx, page, "new-experiment")
    small = _launch(page, "browser-small", SMALL_STEPS, 2048)
    job_page = page
    jobs = ctx.new_page()
    pages.append(jobs)
    jobs.goto("/jobs")
    row = jobs.locator(f'#job-table tr[data-job="{small}"]')
    expect(row).to_be_visible()
    expect(row.locator("a")).to_have_attribute("href", f"/jobs/{small}")
    assert row.locator("td").nth(1).inner_text() == "browser-small"
    first_status = row.locator(".badge").inner_text()
    assert first_status in ("QUEUED", "RUNNING"), first_status
    jobs.evaluate("() => { window.__notReloaded = true; }")

    # 3. the job page's reward curve gains points as progress.csv grows (waiting on the chart's data)
    job_page.wait_for_function("() => Number(document.getElementById('curve').dataset.points || 0) >= 1",
                               timeout=TIMEOUT_MS)
    first, first_canvas = _points(job_page), _canvas(job_page)
    expect(_badge(job_page)).to_have_text("RUNNING")  # else the job ended before the page saw it run
    job_page.wait_for_function(f"() => Number(document.getElementById('curve').dataset.points) > {first}",
                               timeout=TIMEOUT_MS)
    job_page.wait_for_function("(old) => document.querySelector('#curve canvas').toDataURL() !== old",
                               arg=first_canvas, polling=200, timeout=5000)  # the canvas was redrawn
    expect(_badge(job_page)).to_have_text("SUCCEEDED", timeout=TIMEOUT_MS)
    expect(job_page.locator('#job [data-field="steps"]')).to_have_text(f"{SMALL_STEPS} / {SMALL_STEPS}")
    rows = job_page.request.get(f"/api/jobs/{small}/metrics").json()["rows"]
    expect(job_page.locator("#curve")).to_have_attribute("data-points", str(len(rows)))
    steps = [r["timesteps"] for r in rows]
    assert len(rows) > first and steps == sorted(set(steps)) and steps[-1] <= SMALL_STEPS, rows
    assert job_page.locator("#curve canvas").count() >= 1 and job_page.locator("#curve .empty").count() == 0

    # ... and the job list followed it without a reload
    expect(row.locator(".badge")).to_have_text("SUCCEEDED", timeout=TIMEOUT_MS)
    expect(row.locator('[data-field="steps"]')).to_have_text(f"{SMALL_STEPS} / {SMALL_STEPS}")
    expect(row.locator('[data-field="reward"]')).to_have_text(f"{rows[-1]['ep_rew_mean']:.3f}")
    assert jobs.evaluate("() => window.__notReloaded === true"), "the job list was reloaded, not updated live"
    check_screenshot(ctx, jobs, "job-list")

    # the saved agent appears on the open page without a reload
    expect(job_page.locator("ul.agents a", has_text="download")).to_have_attribute(
        "href", f"/api/agents/{small}/ego/download", timeout=TIMEOUT_MS)
    # the finished job's page, reloaded: the curve drawn from the start, the agent's download link, no cancel
    job_page.reload()
    expect(job_page.locator("#curve")).to_have_attribute("data-points", str(len(rows)))
    expect(job_page.locator("form.cancel")).to_have_count(0)
    check_screenshot(ctx, job_page, "job")

    # 5. download the agent through the page's link
    link = job_page.locator("ul.agents a", has_text="download")
    expect(link).to_have_attribute("href", f"/api/agents/{small}/ego/download")
    with job_page.expect_download() as info:
        link.click()
    download = info.value
    assert download.failure() is None
    assert download.suggested_filename == f"{small[:8]}-ego.zip"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    _check_agent_zip(saved)

    # the agents page lists it with the same link
    page = jobs
    page.goto("/agents")
    agent_row = page.locator("table.agents tbody tr", has=page.locator(f'a[href="/jobs/{small}"]'))
    expect(agent_row).to_have_count(1)
    expect(agent_row.locator("td").nth(1)).to_have_text("PPO")
    expect(agent_row.locator("td").nth(2)).to_have_text("RPS-v0")
    expect(agent_row.locator("a", has_text="download")).to_have_attribute(
        "href", f"/api/agents/{small}/ego/download")
    check_screenshot(ctx, page, "agents")

    # 4. a long job, cancelled from its page while it runs
    long = _launch(job_page, "browser-long", LONG_STEPS, 0)
    expect(_badge(job_page)).to_have_text("RUNNING", timeout=TIMEOUT_MS)
    with job_page.expect_navigation():
        job_page.locator("form.cancel button").click()
    assert urlsplit(job_page.url).path == f"/jobs/{long}"
    expect(job_page.locator("form.cancel")).to_have_count(0)
    expect(job_page.locator("dt", has_text="Cancelled by")).to_be_visible()
    expect(_badge(job_page)).to_have_text("CANCELLED", timeout=TIMEOUT_MS)
    api = job_page.request.get(f"/api/jobs/{long}").json()
    assert api["status"] == "CANCELLED" and 0 <= api["steps_done"] < LONG_STEPS, api
    check_screenshot(ctx, job_page, "job-cancelled")
    job_page.reload()  # the final save on cancel: its agent is listed
    expect(job_page.locator("ul.agents a", has_text="download")).to_have_attribute(
        "href", f"/api/agents/{long}/ego/download")

    page.goto("/jobs")
    expect(page.locator(f'tr[data-job="{long}"] .badge')).to_have_text("CANCELLED")
    expect(page.locator(f'tr[data-job="{small}"] .badge')).to_have_text("SUCCEEDED")

    # 6. a cross-play experiment of the two agents from its form; the job page draws the heatmap
    page.goto("/experiments/crossplay")
    form = page.locator("#crossplay-form")
    form.locator("select[name=rows]").select_option([f"{small}/ego", f"{long}/ego"])
    form.locator("input[name=episodes]").fill("5")
    check_screenshot(ctx, page, "crossplay-form")
    with page.expect_navigation():
        form.get_by_role("button", name="Launch cross-play").click()
    xplay = urlsplit(page.url).path.rsplit("/", 1)[1]
    expect(_badge(page)).to_have_text("SUCCEEDED", timeout=TIMEOUT_MS)
    expect(page.locator('[data-field="heatmap-canvas"]')).to_have_attribute("data-cells", "4", timeout=TIMEOUT_MS)
    matrix = page.request.get(f"/api/jobs/{xplay}/crossplay").json()
    cells = page.locator('[data-field="heatmap-table"] tbody td')
    expect(cells).to_have_count(4)
    assert cells.first.inner_text().startswith(f"{matrix['means'][0][0]:.3f} ± ")
    expect(page.locator("ul.files a", has_text="crossplay.png")).to_be_visible()
    check_screenshot(ctx, page, "crossplay-job")

    # 7. human play: a game with a scripted cook on cramped_room, keys held and pressed, to its end
    _play(ctx, page, server, expect)
    ctx.watch.check(page, "the end")


PLAY_TICKS, PLAY_TICK_MS = 40, 100


def _play(ctx: Any, page: Any, server: Server, expect: Any) -> None:
    page.goto("/play")
    expect(page.locator("#play")).to_have_attribute("data-socket", "ready")
    form = page.locator("#play-form")
    form.locator("select[name=mode]").select_option("human-ai")
    form.locator("select[name=layout]").select_option("cramped_room")
    form.locator("select[name=agent]").select_option("greedy")
    form.locator("input[name=horizon]").fill(str(PLAY_TICKS))
    form.locator("input[name=tick_ms]").fill(str(PLAY_TICK_MS))
    form.get_by_role("button", name="Start game").click()
    board = page.locator("#board")
    page.wait_for_function("() => Number(document.getElementById('board').dataset.tick) >= 1")
    expect(page.locator("#play")).to_have_attribute("data-transport", "websocket")  # gunicorn serves websockets
    first = page.evaluate("() => document.getElementById('board').toDataURL()")
    page.keyboard.down("ArrowRight")  # held: auto-repeat is Chromium's; the server moves once per tick
    time.sleep(1.0)
    page.keyboard.up("ArrowRight")
    for key in ("ArrowUp", "Space", "ArrowLeft", "ArrowDown", "Space"):
        page.keyboard.press(key)
        time.sleep(0.15)
    page.wait_for_function("(old) => document.getElementById('board').toDataURL() !== old", arg=first)
    check_screenshot(ctx, page, "play")
    expect(board).to_have_attribute("data-done", "true", timeout=PLAY_TICKS * PLAY_TICK_MS * 3)
    expect(page.locator('[data-field="summary"]')).to_be_visible()
    assert "time is up" in page.locator('[data-field="summary-text"]').inner_text()
    check_screenshot(ctx, page, "play-summary")

    records = page.request.get("/api/trajectories").json()["trajectories"]
    assert len(records) == 1 and records[0]["ticks"] == PLAY_TICKS and records[0]["ended_by"] == "horizon"
    doc = page.request.get(f"/api/trajectories/{records[0]['id']}/json").json()
    assert len(doc["ticks"]) == len(doc["ep_states"][0]) == PLAY_TICKS  # one record per tick
    human = [t["joint_action"][0] for t in doc["ticks"]]
    moves = [a for a in human if a != STAY]
    assert len(moves) >= 5, human  # the held key and the presses arrived
    mailbox = doc["stats"]["mailboxes"][0]
    assert mailbox["taken"] <= PLAY_TICKS and mailbox["received"] >= mailbox["taken"], mailbox
    page.goto("/trajectories")
    expect(page.locator(f'tr[data-record="{records[0]["id"]}"]')).to_be_visible()
    check_screenshot(ctx, page, "trajectories")
    _foreign_origin_is_refused(ctx, server)


def _foreign_origin_is_refused(ctx: Any, server: Server) -> None:
    """python-engineio's same-origin check on the live server: the logged-in browser's cookie from another
    Origin is refused; from the dashboard's own origin it connects (so the refusal means something)."""
    import socketio

    cookie = next(c["value"] for c in ctx.cookies() if c["name"] == "session")

    def connect(origin: str) -> bool:
        client = socketio.Client(reconnection=False)
        try:
            client.connect(server.base, namespaces=["/play"], transports=["polling"], wait_timeout=10,
                           headers={"Origin": origin, "Cookie": f"session={cookie}"})
        except socketio.exceptions.ConnectionError:
            return False
        client.disconnect()
        return True

    assert connect(server.base)
    assert not connect("http://evil.example")
    assert not connect(server.base.replace("127.0.0.1", "localhost"))  # another origin, same machine


def _check_agent_zip(path: Path) -> None:
    assert zipfile.is_zipfile(path), path
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == ["ego/metadata.json", "ego/model.zip", "ego/policy.pt"]
        metadata = json.loads(archive.read("ego/metadata.json"))
        assert metadata["algorithm"] == "PPO" and metadata["env_id"] == "RPS-v0", metadata
        for name, digest in metadata["sha256"].items():
            assert hashlib.sha256(archive.read(f"ego/{name}")).hexdigest() == digest, name
        with zipfile.ZipFile(io.BytesIO(archive.read("ego/model.zip"))) as model:  # SB3's own zip
            assert model.testzip() is None and "policy.pth" in model.namelist(), model.namelist()
