"""The dashboard's logic: pure helpers on real data, and the app run by Streamlit's AppTest against a real service.

The service is real (redis-server, the gRPC server, a Celery worker process with small random weights), as in
test_service_e2e.py; nothing is mocked. The browser-level journey is in test_dashboard_browser.py.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
import tifffile
from dashboard_support import APP, MODEL_B, TOKEN, Stack, service_stack
from samem_dashboard import boxes as bx
from samem_dashboard import colors, frames, jobs, plots, results, sidebar, uploads
from samem_dashboard.config import DashboardConfig
from samem_dashboard.errors import describe
from service_support import HEIGHT, WIDTH, write_video
from streamlit.testing.v1 import AppTest
from test_analysis_synth import brownian, lagging, to_table

from samem.analysis import analyze, write_analysis
from samem.client import Client, ClientError
from samem.errors import InputError
from samem.service.api import tracking_pb2 as pb
from samem.serving.server import free_port
from samem.sim import layout_spec, simulate_video

# ----- pure helpers -----


def test_boxes_and_clicks_survive_the_round_trip_through_the_canvas_on_a_non_square_frame() -> None:
    scale = frames.display_scale(WIDTH, HEIGHT, 700, 600)
    boxes = [
        {"particle": 3, "frame": 5, "x0": 10.5, "y0": 20.5, "x1": 30.5, "y1": 25.5},
        {"particle": 7, "frame": 5, "x0": 100.0, "y0": 60.0, "x1": 120.0, "y1": 90.0},
    ]
    clicks = [
        {"particle": 3, "frame": 5, "x": 20.0, "y": 23.0, "positive": True},
        {"particle": 7, "frame": 5, "x": 50.0, "y": 10.0, "positive": False},
    ]
    got_boxes, got_clicks = bx.canvas_objects(
        bx.drawing(boxes, clicks, scale), frame=5, scale=scale, default_particle=7
    )
    assert bx.same(got_boxes, boxes) and bx.same(got_clicks, clicks)
    assert not bx.same(got_boxes, boxes[::-1])


def test_a_drawn_point_belongs_to_the_box_around_it_and_a_click_sized_rect_is_no_box() -> None:
    scale = 4.0
    drawing = {"objects": [
        {"type": "LabeledRect", "label": "2", "left": 40, "top": 40, "width": 40, "height": 20},
        {"type": "LabeledRect", "label": "", "left": 0, "top": 0, "width": 0.5, "height": 0.5},
        {"type": "LabeledRect", "label": "x", "left": 200, "top": 200, "width": 8, "height": 8},
        # the point tool's circle: origin left/center, radius 4, stroke 2 -> centre at left + 5
        {"type": "Circle", "left": 55, "top": 50, "radius": 4, "strokeWidth": 2, "originX": "left",
         "originY": "center", "stroke": bx.NEGATIVE_COLOR},
    ]}  # fmt: skip
    got_boxes, got_clicks = bx.canvas_objects(drawing, frame=0, scale=scale, default_particle=9)
    assert [(b["particle"], b["x0"], b["y0"], b["x1"], b["y1"]) for b in got_boxes] == [
        (2, 9.5, 9.5, 19.5, 14.5), (9, 49.5, 49.5, 51.5, 51.5),  # an unreadable label takes the next id
    ]  # fmt: skip
    assert got_clicks == [{"particle": 2, "frame": 0, "x": 14.5, "y": 12.0, "positive": False}]


def test_prompts_group_a_box_with_its_clicks_and_refuse_two_boxes_of_one_particle_on_a_frame() -> None:
    box = {"particle": 1, "frame": 0, "x0": 1.0, "y0": 2.0, "x1": 5.0, "y1": 6.0}
    click = {"particle": 1, "frame": 0, "x": 3.0, "y": 4.0, "positive": False}
    late = {"particle": 2, "frame": 4, "x": 8.0, "y": 8.0, "positive": True}
    specs = bx.prompt_specs([box], [click, late])
    assert [(s.particle, s.frame, s.box, s.points, s.labels) for s in specs] == [
        (1, 0, (1.0, 2.0, 5.0, 6.0), ((3.0, 4.0),), (0,)),
        (2, 4, None, ((8.0, 8.0),), (1,)),
    ]
    with pytest.raises(ValueError, match="particle 1 has two boxes on frame 0"):
        bx.prompt_specs([box, {**box, "x0": 0.0}], [])


def test_edited_rows_are_checked_and_half_filled_rows_wait() -> None:
    limits = {"n_frames": 10, "width": WIDTH, "height": HEIGHT}
    table = bx.boxes_frame([{"particle": 1, "frame": 2, "x0": 1.0, "y0": 2.0, "x1": 5.0, "y1": 6.0}])
    half = pd.concat([table, pd.DataFrame([{"particle": 4}])], ignore_index=True)
    assert bx.records(half, bx.BOX_COLUMNS, **limits) == [
        {"particle": 1, "frame": 2, "x0": 1.0, "y0": 2.0, "x1": 5.0, "y1": 6.0}
    ]
    for change, message in [
        ({"frame": 10}, r"row 1: frame 10 is outside 0..9"),
        ({"particle": 0}, r"row 1: particle id 0 must lie between 1 and 65535"),
        ({"x1": WIDTH + 1.0}, rf"row 1: coordinates lie outside the {WIDTH} x {HEIGHT} frame"),
        ({"x1": 0.5}, r"row 1: a box needs x1 > x0 and y1 > y0"),
    ]:
        with pytest.raises(ValueError, match=message):
            bx.records(table.assign(**change), bx.BOX_COLUMNS, **limits)
    assert bx.next_particle([{"particle": 1}, {"particle": 2}, {"particle": 4}]) == 3


def test_errors_become_plain_sentences_that_say_what_to_do() -> None:
    address = "tracking.lab:50051"
    sentences = {
        grpc.StatusCode.UNAUTHENTICATED: "did not accept your token",
        grpc.StatusCode.UNAVAILABLE: f"tracking service at {address} cannot be reached",
        grpc.StatusCode.RESOURCE_EXHAUSTED: "A limit was reached: alice already has 4 jobs.",
        grpc.StatusCode.NOT_FOUND: "Not found (it may have been deleted): alice already has 4 jobs.",
    }
    for code, expected in sentences.items():
        assert expected in describe(ClientError(code, "alice already has 4 jobs"), address=address)
    assert describe(InputError("clip.xyz is not a video\nmore")) == "This input cannot be used: clip.xyz is not a video"
    assert describe(KeyError("x")).startswith("Something went wrong (KeyError")
    assert "Traceback" not in describe(RuntimeError("boom"))


def test_models_and_jobs_are_labelled_with_their_model() -> None:
    model = pb.Model(name="samem-compact", description="samem-compact, the weights shipped with samem", is_default=True)
    assert jobs.model_label(model) == "samem-compact (default) · samem-compact, the weights shipped with samem"
    assert jobs.model_label(pb.Model(name="tuned", description="d")) == "tuned · d"
    rows = sidebar.job_rows([
        pb.Job(kind=pb.PROPAGATION, state=pb.RUNNING, frames_done=5, frames_total=10, model="tuned", created_unix=2),
        pb.Job(kind=pb.ANALYSIS, state=pb.QUEUED, created_unix=1),
    ])  # fmt: skip
    assert rows["model"].tolist() == ["tuned", "–"] and rows["progress"].tolist()[0] == 0.5
    job = pb.Job(job_id="job-1", state=pb.RUNNING, frames_done=3, frames_total=9, model="tuned")
    assert "model tuned" in jobs.progress_text(job, 1.0)


def test_settings_come_from_arguments_then_environment_then_defaults(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    env = {"SAMEM_ADDRESS": "svc:7000", "SAMEM_TOKEN": " t0k ", "SAMEM_TLS_CA": str(ca)}
    config = DashboardConfig.from_env(env)
    assert (config.address, config.token, config.tls_ca, config.tls) == ("svc:7000", "t0k", ca, False)
    assert DashboardConfig.from_env(env, address="other:1").address == "other:1"
    assert DashboardConfig.from_env({"SAMEM_TLS": "1"}).tls and not DashboardConfig.from_env({"SAMEM_TLS": "0"}).tls
    default = DashboardConfig.from_env({})
    assert (default.address, default.tls, default.tls_ca) == ("127.0.0.1:50051", False, None)  # plaintext loopback
    with pytest.raises(InputError, match=r"SAMEM_TLS_CA='.*missing.pem' is not a file"):
        DashboardConfig.from_env({"SAMEM_TLS_CA": str(tmp_path / "missing.pem")})
    with pytest.raises(InputError, match=r"SAMEM_TLS must be 1 or 0 \(true/false\), got 'maybe'"):
        DashboardConfig.from_env({"SAMEM_TLS": "maybe"})
    with pytest.raises(InputError, match=r"SAMEM_ADDRESS must be HOST:PORT, got 'svc'"):
        DashboardConfig.from_env({"SAMEM_ADDRESS": "svc"})
    with pytest.raises(InputError, match=r"SAMEM_DASHBOARD_TIMEOUT_S='soon' is not a number"):
        DashboardConfig.from_env({"SAMEM_DASHBOARD_TIMEOUT_S": "soon"})


def test_overlay_tints_each_mask_in_its_particle_colour_and_outlines_it(tmp_path: Path) -> None:
    gray = np.full((HEIGHT, WIDTH), 100, np.uint8)
    labels = np.zeros((HEIGHT, WIDTH), np.uint16)
    labels[10:30, 20:50] = 1
    labels[60:80, 90:100] = 17  # ids past the palette wrap around
    image = np.asarray(frames.overlay(gray, labels, scale=1.0))
    assert tuple(image[20, 35]) == tuple(round(0.55 * 100 + 0.45 * c) for c in colors.particle_rgb(1))
    assert tuple(image[10, 35]) == colors.particle_rgb(1)  # outline
    assert tuple(image[70, 95]) == tuple(image[20, 35]) and colors.particle_color(17) == colors.particle_color(1)
    assert tuple(image[50, 5]) == (100, 100, 100)
    assert frames.overlay(None, labels, scale=2.0).size == (2 * WIDTH, 2 * HEIGHT)
    with pytest.raises(ValueError, match="differ in shape"):
        frames.overlay(gray[:, :10], labels)
    small = np.arange(48 * 64, dtype=np.uint8).reshape(48, 64)  # a frame the service sent at max_size 64
    assert frames.fit(small, HEIGHT, WIDTH).shape == (HEIGHT, WIDTH) and frames.fit(gray, HEIGHT, WIDTH) is gray
    assert np.array_equal(frames.fit(small, 96, 128)[::2, ::2], small)  # enlarged by repeating pixels
    cache = uploads.FileCache(tmp_path / "cache")
    path = cache.store("clip.tif", b"data")
    assert cache.find("3a6eb0790f39ac87c94f3856b2dd2c5d110e6811602261a9a923d3bb23adc8b7") == path
    assert cache.find("0" * 64) is None


def test_the_calibration_is_read_from_the_files_metadata_and_absent_when_it_has_none(tmp_path: Path) -> None:
    frames_ = np.zeros((3, HEIGHT, WIDTH), np.uint16)
    tifffile.imwrite(tmp_path / "cal.tif", frames_, imagej=True, resolution=(1 / 0.4, 1 / 0.4),
                     metadata={"axes": "TYX", "unit": "nm", "finterval": 0.025})  # fmt: skip
    tifffile.imwrite(tmp_path / "plain.tif", frames_, photometric="minisblack")
    found = uploads.calibration(uploads.probe(tmp_path / "cal.tif"))
    assert found.px_nm == pytest.approx(0.4) and found.fps == pytest.approx(40.0)
    assert uploads.calibration(uploads.probe(tmp_path / "plain.tif")) == uploads.Calibration(px_nm=None, fps=None)
    with pytest.raises(InputError, match="not a readable TIFF"):
        (tmp_path / "bad.tif").write_bytes(b"not a tiff")
        uploads.probe(tmp_path / "bad.tif")


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict, dict[str, bytes]]:
    spec = layout_spec(seed=2, width=160, height=96, n_frames=60, n_particles=3, shape="sphere", size_nm=(6.0, 6.0))
    clip = simulate_video(spec)
    out = write_analysis(
        analyze(clip.tracks, px_nm=spec.px_nm, fps=spec.fps, exposure_fraction=0.0, vanhove_lags=(1, 4)),
        tmp_path_factory.mktemp("analysis") / "analysis",
    )
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    return clip.tracks, json.loads(files.pop("stats.json")), files


def test_figures_show_every_particle_the_fits_and_each_van_hove_lag(analysed: tuple) -> None:
    tracks, stats, files = analysed
    read = {name: pd.read_csv(io.BytesIO(data)) for name, data in files.items() if name.endswith(".csv")}
    trajectories = plots.trajectories_figure(tracks, px_nm=0.5, fps=20.0)
    assert len(trajectories.data) == 2 * 3 and trajectories.layout.yaxis.autorange == "reversed"
    assert trajectories.data[1].marker.colorscale is not None  # points coloured by time
    msd = plots.msd_figure(read["msd.csv"], stats)
    names = [t.name for t in msd.data]
    assert names[:4] == ["particle 1", "particle 2", "particle 3", "ensemble"]
    assert any(n.startswith("linear fit") and "D = " in n for n in names) and any("α = " in n for n in names)
    vanhove = plots.vanhove_figure(read["vanhove.csv"], stats)
    assert len(vanhove.layout.annotations) == 2 and "lag 4 fr" in vanhove.layout.annotations[1].text
    assert len(plots.vacf_figure(read["vacf.csv"]).data[0].x) == len(read["vacf.csv"])
    table = plots.stats_table(read["particles.csv"], stats)
    assert table["particle"].tolist() == ["1", "2", "3", "ensemble"]
    assert all("±" in v for v in table["D, CVE (nm²/s)"])
    expected = stats["ensemble"]["cve"]["D_nm2_s"]
    assert table["D, CVE (nm²/s)"].iloc[-1].startswith(f"{expected:.3g}")
    confidence = plots.confidence_figure(
        tracks.assign(predicted_iou=0.7, present=tracks["frame"] != 10), min_iou=0.5, frame=3
    )  # fmt: skip
    assert [t.name for t in confidence.data] == ["particle 1", "particle 2", "particle 3"]
    assert list(confidence.data[0].x) == list(range(60)) and confidence.data[0].y[10] is None  # absent: a gap
    assert confidence.data[0].y[9] == pytest.approx(0.7)
    assert [(s.y0, s.line.dash) for s in confidence.layout.shapes if s.type == "line"] == [(0.5, "dash"), (0, None)]
    diffusion = plots.diffusion_figure(read["particles.csv"], stats)
    assert list(diffusion.data[0].x) == ["1", "2", "3"]
    np.testing.assert_allclose(diffusion.data[0].y, read["particles.csv"]["D_cve_nm2_s"])
    np.testing.assert_allclose(diffusion.data[0].error_y.array, read["particles.csv"]["D_cve_err_nm2_s"])
    assert f"pooled D = {expected:.4g}" in diffusion.layout.annotations[0].text
    assert "Cochran's Q" in diffusion.layout.title.text and "on 2 dof" in diffusion.layout.title.text


def _show_notes_page(stats: dict) -> None:
    from samem_dashboard import results

    results.show_notes(stats)


def test_the_analysis_warnings_are_shown_above_the_statistics(analysed: tuple, tmp_path: Path) -> None:
    """Positions that lag the particle fail the CVE's check; stats.json carries the note and the page shows it."""
    _, stats, _ = analysed
    assert stats["notes"] == []
    tracks = to_table(lagging(brownian(np.random.default_rng(5), 20, 60, 200.0, 0.05), 0.4), 0.5)
    out = write_analysis(analyze(tracks, px_nm=0.5, fps=20.0, exposure_fraction=0.0, n_bootstrap=0), tmp_path / "a")
    lagged = json.loads((out / "stats.json").read_text())
    assert len(lagged["notes"]) == 1 and "biased low" in lagged["notes"][0]
    page = AppTest.from_function(_show_notes_page, args=(lagged,)).run()
    assert [w.value for w in page.warning] == [f"Analysis note: {lagged['notes'][0]}."]
    assert not AppTest.from_function(_show_notes_page, args=(stats,)).run().warning


# ----- the app against a real service -----


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with service_stack(tmp_path_factory.mktemp("dashboard-apptest")) as running:
        yield running


@pytest.fixture
def app(stack: Stack, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> AppTest:
    monkeypatch.setenv("SAMEM_ADDRESS", stack.address)
    monkeypatch.setenv("SAMEM_DASHBOARD_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SAMEM_TOKEN", raising=False)
    return AppTest.from_file(str(APP), default_timeout=60)


def _sign_in(app: AppTest, token: str = TOKEN) -> AppTest:
    app.run()
    app.sidebar.text_input[0].input(token)
    app.sidebar.button[0].click().run()
    return app


def _errors(app: AppTest) -> list[str]:
    return [e.value for e in app.error] + [e.value for e in app.sidebar.error]


def _text(app: AppTest) -> str:
    return "\n".join(m.value for m in app.markdown)


def _uploaded(stack: Stack, path: Path, prompts: list) -> str:
    with Client(stack.address, token=TOKEN) as client:
        video = client.upload_video(path, px_nm=0.5, fps=20.0)
        if prompts:
            client.set_prompts(video.video_id, prompts)
    return video.video_id


def _open_step(app: AppTest, stack: Stack, path: Path, prompts: list, step: str) -> str:
    """Upload ``path`` with ``prompts``, sign in, pick the video and open ``step``; the video's id."""
    video_id = _uploaded(stack, path, prompts)
    _sign_in(app)
    app.sidebar.radio[0].set_value(video_id).run()
    app.radio(key="step").set_value(step).run()
    return video_id


def test_before_sign_in_the_page_explains_the_steps_and_SAMEM_TOKEN_prefills_the_token(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAMEM_TOKEN", "from-env")
    app.run()
    assert not app.exception
    assert app.sidebar.text_input[0].value == "from-env"
    assert "Sign in with your access token" in _text(app)
    assert app.subheader[0].value == "Particle tracking for liquid-cell TEM"


def test_a_wrong_token_and_an_unreachable_service_are_reported_in_plain_sentences(
    app: AppTest, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sign_in(app, "wrong-token")
    assert not app.exception and "did not accept your token" in " ".join(_errors(app))
    assert app.sidebar.button[0].label == "Sign in"  # still signed out
    address = f"127.0.0.1:{free_port()}"
    monkeypatch.setenv("SAMEM_ADDRESS", address)
    down = _sign_in(AppTest.from_file(str(APP), default_timeout=60))
    assert not down.exception and f"tracking service at {address} cannot be reached" in " ".join(_errors(down))
    monkeypatch.setenv("SAMEM_ADDRESS", "no-port")
    broken = AppTest.from_file(str(APP), default_timeout=60)
    broken.run()
    assert not broken.exception and "SAMEM_ADDRESS must be HOST:PORT" in " ".join(_errors(broken))


def test_the_particles_step_shows_the_services_prompts_and_saving_removes_deleted_boxes(
    app: AppTest, stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "clip.tif", n_frames=12)
    video_id = _open_step(app, stack, path, prompts, "2 · Particles")
    assert not app.exception and not _errors(app)
    table = app.dataframe(key=f"boxes-{video_id}-0").value
    assert table["particle"].tolist() == [1, 2] and table["x0"].tolist() == [p.box[0] for p in prompts]
    assert colors.particle_color(2) in _text(app) and "frame 0" in _text(app)  # the colour legend
    held = app.session_state["prompts"]
    held[video_id]["boxes"].pop()  # as a row deleted in the box table: new state, canvas and tables redrawn
    app.session_state["prompts"] = held
    app.session_state["table_version"] = app.session_state["canvas_version"] = {video_id: 1}
    app.button(key="save-prompts").click().run()
    assert "Saved 1 prompt(s)" in app.success[0].value
    with Client(stack.address, token=TOKEN) as client:
        assert [p.particle for p in client.list_prompts(video_id)] == [1]


def test_tracking_watches_the_job_to_the_end_and_the_results_show_statistics_and_downloads(
    app: AppTest, stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "clip.tif", n_frames=30)
    video_id = _open_step(app, stack, path, prompts, "3 · Track")
    assert [m.value for m in app.metric][:2] == ["2", "30"]
    app.selectbox(key="track-model").set_value(MODEL_B).run()  # real masks: random ones fill the frame
    app.button(key="start-track").click().run()  # watches until the job ends, then opens the results
    assert not app.exception and not _errors(app), _errors(app)
    assert app.radio(key="step").value == "4 · Results"
    assert "Tracking finished: 30 frames" in app.success[0].value
    stats = [d.value for d in app.dataframe if "exponent α" in d.value.columns]
    assert stats and stats[0]["particle"].tolist() == ["1", "2", "ensemble"]
    charts = [c.key for c in app.get("plotly_chart")]
    assert charts == ["fig-confidence", "fig-traj", "fig-msd", "fig-vh", "fig-vacf", "fig-diffusion"], charts
    (summary,) = [c.value for c in app.caption if "particle(s) analysed" in c.value]
    assert re.search(r"positions left out as gaps: \d+ cut by the frame edge · drift", summary), summary
    frame_table = next(d.value for d in app.dataframe if "area" in d.value.columns)
    assert list(frame_table.columns) == ["id", "present", "x", "y", "area", "score", "IoU est.", "at edge"]
    # the mask overlay over the frame from the service (GetFrame): the video was uploaded by another client
    captions = [str(image.proto) for image in app.get("image")]
    assert any('caption: "frame 0"' in c for c in captions) and not any("masks only" in c for c in captions)
    assert any(key[0] == video_id for key in app.session_state["frames"])  # fetched through the client
    labels = {button.proto.label for button in app.get("download_button")}
    assert {"trajectories.csv", "report.html", "stats.json", "trajectories.png", "msd.png"} <= labels
    app.button(key="prep-masks").click().run()
    assert "masks.tif" in {button.proto.label for button in app.get("download_button")}
    with Client(stack.address, token=TOKEN) as client:
        jobs = client.list_jobs(video_id)
        assert sorted(pb.JobKind.Name(j.kind) for j in jobs) == ["ANALYSIS", "PROPAGATION"]
        assert all(j.state == pb.SUCCEEDED for j in jobs)
        (job,) = [j for j in jobs if j.kind == pb.PROPAGATION]
        stack_ = tifffile.imread(io.BytesIO(results.masks_tif(client, job.job_id, client.get_video(video_id))))
        expected = client.masks(job.job_id)
    assert stack_.shape == (30, HEIGHT, WIDTH) and stack_.dtype == np.uint16
    assert all(np.array_equal(stack_[frame], labels) for frame, labels in expected.items()) and len(expected) == 30


def test_the_track_step_offers_the_services_models_with_the_default_preselected_and_runs_the_chosen_one(
    app: AppTest, stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "clip.tif", n_frames=12)
    video_id = _open_step(app, stack, path, prompts, "3 · Track")
    picker = app.selectbox(key="track-model")
    assert picker.value == "samem-compact"  # the service's default, preselected
    assert [o.split(" · ")[0] for o in picker.options] == ["samem-compact (default)", MODEL_B]
    picker.set_value(MODEL_B).run()
    app.button(key="start-track").click().run()
    assert not app.exception and app.radio(key="step").value == "4 · Results"
    with Client(stack.address, token=TOKEN) as client:
        (job,) = [j for j in client.list_jobs(video_id) if j.kind == pb.PROPAGATION]
    assert job.state == pb.SUCCEEDED and job.model == MODEL_B
    assert f"model {MODEL_B}" in app.selectbox[0].options[0]  # the results name the job's model
    jobs_table = next(d.value for d in app.sidebar.dataframe if "model" in d.value.columns)
    assert MODEL_B in jobs_table["model"].tolist()


def test_a_job_cancelled_while_watched_ends_with_a_warning_not_an_error(
    app: AppTest, stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "long.tif", n_frames=400)
    video_id = _open_step(app, stack, path, prompts, "3 · Track")

    def cancel_soon() -> None:
        with Client(stack.address, token=TOKEN) as client:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                running = [j for j in client.list_jobs(video_id) if j.state == pb.RUNNING and j.frames_done >= 3]
                if running:
                    client.cancel(running[0].job_id)
                    return
                time.sleep(0.05)

    canceller = threading.Thread(target=cancel_soon)
    canceller.start()
    app.button(key="start-track").click().run()
    canceller.join()
    assert not app.exception and not _errors(app), _errors(app)
    assert "Tracking was cancelled after" in app.warning[0].value


def test_positions_at_the_frame_edge_are_left_out_of_the_statistics_unless_the_user_keeps_them(
    app: AppTest, stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "clip.tif", n_frames=12)
    _open_step(app, stack, path, prompts, "3 · Track")
    app.button(key="start-track").click().run()  # random weights: the masks fill the frame from frame 1 on
    (error,) = _errors(app)
    assert "statistics job ended FAILED" in error and "frame edge" in error
    edge = next(c for c in app.checkbox if c.key.startswith("keep-edge-"))
    assert edge.value is False
    edge.check()
    next(b for b in app.button if b.proto.label == "Compute statistics").click().run()
    assert not app.exception and not _errors(app), _errors(app)
    stats = [d.value for d in app.dataframe if "exponent α" in d.value.columns]
    assert stats and stats[0]["particle"].tolist() == ["1", "2", "ensemble"]
    (summary,) = [c.value for c in app.caption if "particle(s) analysed" in c.value]
    assert "left out" not in summary  # edge positions kept, no gate
    doubt = next(n for n in app.number_input if (n.key or "").startswith("min-iou-"))
    assert doubt.value == 0.0
    doubt.set_value(1.0)  # every mask of random weights has a predicted IoU below 1: nothing is left to analyse
    next(b for b in app.button if b.proto.label.endswith("ompute statistics")).click().run()  # the form's submit
    (error,) = _errors(app)
    assert "every position left is gated out" in error and "with a predicted IoU below min_iou 1.0" in error
    area = next(n for n in app.number_input if (n.key or "").startswith("max-area-"))
    assert area.value is None  # off unless the user sets it
    next(n for n in app.number_input if (n.key or "").startswith("min-iou-")).set_value(0.0)
    area.set_value(1000.0)
    next(b for b in app.button if b.proto.label.endswith("ompute statistics")).click().run()
    assert not _errors(app), _errors(app)
    (summary,) = [c.value for c in app.caption if "particle(s) analysed" in c.value]
    assert "positions left out as gaps: 0 whose area changed by more than 1000×" in summary, summary


def test_a_failed_statistics_job_is_a_sentence_in_its_tab_and_the_masks_stay(
    app: AppTest, stack: Stack, tmp_path: Path
) -> None:
    path, prompts = write_video(tmp_path / "short.tif", n_frames=6)  # shorter than the analysis minimum
    _open_step(app, stack, path, prompts, "3 · Track")
    app.button(key="start-track").click().run()
    assert not app.exception and app.radio(key="step").value == "4 · Results"
    (error,) = _errors(app)
    assert error.startswith("samem could not do this: the statistics job ended FAILED")
    assert "no particle has at least 10 frames" in error
    assert app.slider(key=next(s.key for s in app.slider if s.key.startswith("result-frame-"))).max == 5
    assert len(app.get("image")) == 1 and [c.key for c in app.get("plotly_chart")] == ["fig-confidence"]
