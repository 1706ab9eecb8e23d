"""The dashboard end to end in a real browser: headless Chromium (playwright) against `streamlit run dashboard/app.py`,
which talks to a real gRPC server with a real Redis and a real Celery worker process. No mocks.

A facility user signs in (after a wrong token), uploads a simulated video (after a file that is not one) with its
calibration, draws a box around each particle on the frame (shown from the service's GetFrame) with the mouse and
clicks on one, picks a model from the service's catalogue, starts tracking, watches it finish, looks at the
trajectories and the statistics table, and downloads trajectories.csv.
Screenshots of every step go to artifacts/dashboard/.
"""

from __future__ import annotations

import io
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import tifffile
from dashboard_support import MODEL_B, ROOT, TOKEN, Stack, service_stack, streamlit_app
from service_support import HEIGHT, WIDTH, write_video

from samem.client import Client
from samem.service.api import tracking_pb2 as pb

playwright = pytest.importorskip("playwright.sync_api")

pytestmark = pytest.mark.slow  # a Redis server, a worker, a Streamlit server and Chromium: about 1-2 minutes

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
SHOTS = ROOT / "artifacts" / "dashboard"
N_FRAMES = 60  # long enough to see the progress bar move on this machine
TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with service_stack(tmp_path_factory.mktemp("dashboard-service")) as running:
        yield running


@pytest.fixture(scope="module")
def shots() -> Path:
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    return SHOTS


def _idle(page: object) -> None:
    """Wait until Streamlit has finished the current run (its 'running' indicator is gone)."""
    page.wait_for_timeout(400)  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=TIMEOUT_MS
    )
    page.wait_for_timeout(300)  # type: ignore[attr-defined]


def _drag_box(page: object, box: tuple[float, float, float, float]) -> None:
    """Draw a box (video pixels) on the drawing canvas with the mouse."""
    canvas = page.locator("canvas").last  # type: ignore[attr-defined]
    bounds = canvas.bounding_box()
    scale = bounds["width"] / WIDTH
    assert abs(bounds["height"] / HEIGHT - scale) < 0.02, "the frame is shown with its aspect ratio"
    x0, y0, x1, y1 = ((v + 0.5) * scale for v in box)
    mouse = page.mouse  # type: ignore[attr-defined]
    mouse.move(bounds["x"] + x0, bounds["y"] + y0)
    mouse.down()
    mouse.move(bounds["x"] + x1, bounds["y"] + y1, steps=8)
    mouse.up()
    _idle(page)


def _click(page: object, point: tuple[float, float]) -> None:
    """Click the canvas at a point in video pixels."""
    bounds = page.locator("canvas").last.bounding_box()  # type: ignore[attr-defined]
    scale = bounds["width"] / WIDTH
    page.mouse.click(bounds["x"] + (point[0] + 0.5) * scale, bounds["y"] + (point[1] + 0.5) * scale)  # type: ignore[attr-defined]
    _idle(page)


def test_a_user_signs_in_uploads_draws_boxes_tracks_and_downloads_the_trajectories(
    stack: Stack, shots: Path, tmp_path: Path
) -> None:
    plain, prompts = write_video(tmp_path / "plain.tif", n_frames=N_FRAMES)
    video_path = tmp_path / "clip.tif"  # the same frames with ImageJ calibration: 0.5 nm pixels, 50 ms per frame
    tifffile.imwrite(video_path, tifffile.imread(plain), imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "TYX", "unit": "nm", "finterval": 0.05})  # fmt: skip
    boxes = {p.particle: p.box for p in prompts}
    assert sorted(boxes) == [1, 2]
    with (
        streamlit_app(stack.address, tmp_path / "cache", tmp_path / "streamlit.log") as url,
        playwright.sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            page.wait_for_selector("text=Sign in with your access token")
            _idle(page)
            page.screenshot(path=shots / "01-welcome.png", full_page=True)

            # 1. a wrong token is refused in a sentence, then the right one is accepted
            token = page.get_by_label("Access token", exact=True)
            token.fill("not-a-token")
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("text=did not accept your token")
            assert page.locator("text=Traceback").count() == 0
            page.screenshot(path=shots / "02-wrong-token.png", full_page=True)
            token.fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("text=Bring in a video")
            _idle(page)

            # 2. a file that is not a video is refused in a sentence; then the video, its calibration prefilled
            broken = tmp_path / "broken.tif"
            broken.write_bytes(b"this is not a TIFF file" * 10)
            page.locator("input[type=file]").set_input_files(str(broken))
            page.wait_for_selector("text=This input cannot be used")
            assert page.locator("text=Traceback").count() == 0
            page.screenshot(path=shots / "03-bad-file.png", full_page=True)
            page.locator("input[type=file]").set_input_files(str(video_path))
            page.wait_for_selector(f"text=TIFF · {N_FRAMES} frames · {WIDTH} × {HEIGHT} px")
            _idle(page)
            pixel = page.get_by_label("Pixel size (nm)", exact=True).first
            rate = page.get_by_label("Frame rate (frames/s)", exact=True).first
            assert (pixel.input_value(), rate.input_value()) == ("0.5000", "20.000")  # from the file's metadata
            rate.fill("25")  # and editable
            page.keyboard.press("Tab")
            _idle(page)
            page.screenshot(path=shots / "03-upload.png", full_page=True)
            page.get_by_role("button", name="Upload to the service").click()
            page.wait_for_selector("text=Mark the particles")
            _idle(page)

            # 3. a box around each particle on frame 0, drawn with the mouse
            next_id = page.get_by_label("Particle id for the next box", exact=True).first
            for particle in (1, 2):
                _drag_box(page, boxes[particle])
                # the app has taken the box when the next id moves on; drawing earlier raced its rerun (the second
                # box went to particle 1, cut short where the canvas was redrawn under the mouse)
                playwright.expect(next_id).to_have_value(str(particle + 1), timeout=TIMEOUT_MS)
                _idle(page)
            # and a positive click on particle 1 (it belongs to the box around it)
            page.get_by_text("Click +", exact=True).click()
            _idle(page)
            x0, y0, x1, y1 = boxes[1]
            _click(page, ((x0 + x1) / 2, (y0 + y1) / 2))
            page.wait_for_selector("text=1 click(s)")
            page.screenshot(path=shots / "04-boxes.png", full_page=True)
            page.get_by_role("button", name="Save and track").click()
            page.wait_for_selector("text=Frames to track")
            _idle(page)

            # 4. pick the model explicitly (the service's default is preselected), then track with a progress bar
            picker = page.locator("[data-testid=stSelectbox]").filter(has_text="Model").locator("input")
            assert picker.input_value().startswith("samem-compact (default)")
            picker.click()
            page.get_by_role("option", name=re.compile(rf"^{MODEL_B} ")).click()
            _idle(page)
            assert picker.input_value().startswith(f"{MODEL_B} ·")
            page.get_by_role("button", name="Start tracking").click()
            page.wait_for_selector("[data-testid=stProgress]")
            page.screenshot(path=shots / "05-tracking.png", full_page=True)
            page.wait_for_selector("text=Results · clip.tif")
            _idle(page)
            page.wait_for_selector("text=How sure the model is of each mask")  # the predicted-IoU chart (plotly)
            page.screenshot(path=shots / "06-results-masks.png", full_page=True)

            # 5. trajectories (plotly) and the statistics table
            page.get_by_role("tab", name="Trajectories").click()
            page.wait_for_selector("text=Trajectories (colour: time)")
            page.wait_for_timeout(800)
            page.screenshot(path=shots / "07-trajectories.png", full_page=True)
            page.get_by_role("tab", name="MSD").click()
            page.wait_for_timeout(800)
            page.screenshot(path=shots / "08-msd.png", full_page=True)
            page.get_by_role("tab", name="Statistics").click()
            table = page.locator("[data-testid=stDataFrame]").filter(has_text="exponent α")
            table.wait_for()
            page.wait_for_timeout(500)
            page.screenshot(path=shots / "09-statistics.png", full_page=True)

            # 6. download trajectories.csv
            page.get_by_role("tab", name="Downloads").click()
            page.wait_for_timeout(500)
            page.screenshot(path=shots / "10-downloads.png", full_page=True)
            with page.expect_download() as download:
                page.get_by_role("button", name="trajectories.csv").click()
            downloaded = Path(download.value.path()).read_bytes()
            assert download.value.suggested_filename == "clip_trajectories.csv"
            assert page.locator("text=Traceback").count() == 0
        finally:
            browser.close()

    # What the browser did reached the service: the drawn boxes, the calibration, one finished job.
    with Client(stack.address, token=TOKEN) as client:
        (video,) = [v for v in client.list_videos() if v.filename == "clip.tif"]
        assert (video.n_frames, video.px_nm, video.fps) == (N_FRAMES, pytest.approx(0.5), 25.0)
        prompts_now = client.list_prompts(video.video_id)
        drawn = {p.particle: (p.frame, p.box.x0, p.box.y0, p.box.x1, p.box.y1) for p in prompts_now}
        clicks = {p.particle: [(q.x, q.y, q.positive) for q in p.points] for p in prompts_now}
        ((cx, cy, positive),) = clicks[1]
        centre = ((boxes[1][0] + boxes[1][2]) / 2, (boxes[1][1] + boxes[1][3]) / 2)
        assert positive and abs(cx - centre[0]) <= 0.6 and abs(cy - centre[1]) <= 0.6 and clicks[2] == []
        assert sorted(drawn) == [1, 2]
        for particle, (frame, *box) in drawn.items():
            assert frame == 0
            assert max(abs(a - b) for a, b in zip(box, boxes[particle], strict=True)) <= 0.6  # mouse pixels
        (job,) = [j for j in client.list_jobs(video.video_id) if j.kind == pb.PROPAGATION]
        assert job.state == pb.SUCCEEDED and job.frames_done == N_FRAMES and job.model == MODEL_B
        assert downloaded == client.trajectories_csv(job.job_id)
    table = pd.read_csv(io.BytesIO(downloaded))
    assert {"frame", "particle", "x", "y", "present", "mask_score"} <= set(table.columns)
    assert sorted(table["particle"].unique()) == [1, 2]
    assert sorted(table["frame"].unique()) == list(range(N_FRAMES)) and len(table) == 2 * N_FRAMES
