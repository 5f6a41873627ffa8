"""The real server on a loopback port, called over HTTP with real files; and the page in headless Chromium."""

import concurrent.futures
import json
import os
import shutil

import httpx
import numpy as np
import pytest
from audiogen import encode, speechlike, write
from servers import launch_chromium, start_server

pytest.importorskip("fastapi")

import speechgrade as sg  # noqa: E402

pytestmark = pytest.mark.slow  # a real server scoring with Whisper: minutes

WHISPER = sg.features.base.FEATURIZERS["whisper"]


def _has_whisper() -> bool:
    try:
        WHISPER.check_available()
        from speechgrade.transcribe import packaged_parts

        return packaged_parts() is not None
    except sg.SpeechgradeError:
        return False


def _has_grammar() -> bool:
    try:
        sg.features.FEATURIZERS["grammar"].check_available()
        return True
    except sg.SpeechgradeError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A ridge model on 30 clips of the bundled real speech (Whisper features when installed), served."""
    cache = tmp_path_factory.mktemp("cache")
    grammar = _has_grammar()
    features = ("whisper?beam_size=1," + ("grammar?beam_size=1," if grammar else "") + "acoustic") if _has_whisper() \
        else "acoustic"
    sample = sg.datasets.sample("total")
    ds = sample.subset(sample.filenames[:30])
    model = sg.Scorer(features, "ridge", trials=0, cache=cache).fit(ds).save(tmp_path_factory.mktemp("m") / "model")
    proc, _, url = start_server(model, "--max-upload-mb", "1", "--max-audio-s", "22", "--cache", str(cache))
    yield url, features, sg.datasets.sample_dir() / "wav"
    proc.terminate()
    proc.wait(10)


CLIPS = ["050150093", "050150108", "070010004", "070010005", "070010006", "070010007", "070010008", "070010009"]


def test_score_one_file(server):
    url, features, wav = server
    with open(wav / f"{CLIPS[0]}.wav", "rb") as fh:
        r = httpx.post(f"{url}/v1/score", files={"file": ("answer.wav", fh, "audio/wav")}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label"]["name"] == "total" and body["label"]["min"] <= body["score"] <= body["label"]["max"]
    assert body["processing_s"] > 0 and body["model"]["id"] == "model"
    assert "acoustic.speech_ratio" in body["features"]
    assert "base" in body["explanation"] and "acoustic" in body["explanation"]
    assert body["interval"]["lo"] <= body["score"] <= body["interval"]["hi"] and body["interval"]["coverage"] == 0.8
    assert body["abstain"] is None  # real speech in English
    if features.startswith("whisper"):
        assert "transcript" in body and "whisper.speech_rate" in body["features"]
    if "grammar" in features:
        assert isinstance(body["grammar_findings"], list) and "grammar.errors_per_unit" in body["features"]
        for f in body["grammar_findings"]:
            assert {"start", "end", "start_s", "end_s", "kind", "message", "suggestion"} <= set(f)


def test_noise_is_scored_but_flagged(server):
    url, _, wav = server
    noise = (0.1 * np.random.default_rng(0).normal(size=16000 * 4)).astype(np.float32)
    r = httpx.post(f"{url}/v1/score", files={"file": ("noise.wav", encode(noise))}, timeout=60)
    assert r.status_code == 200 and r.json()["abstain"].startswith("mostly noise")
    assert r.json().get("grammar_findings", []) == []  # no advice on what Whisper "heard" in noise


def _music(seconds: float = 8.0) -> np.ndarray:
    """Chords of harmonic tones changing every half second (no speech)."""
    sr, out = 16000, []
    rng = np.random.default_rng(3)
    for _ in range(int(seconds * 2)):
        root = 110 * 2 ** (rng.integers(0, 12) / 12)
        t = np.arange(sr // 2) / sr
        out.append(sum(np.sin(2 * np.pi * root * r * k * t) / k for r in (1, 1.26, 1.5) for k in range(1, 5)))
    x = np.concatenate(out)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)


def _breaths(seconds: float = 8.0) -> np.ndarray:
    """Near silence with a soft band-limited noise burst (a breath) every 2.5 s."""
    rng = np.random.default_rng(4)
    x = 0.0005 * rng.normal(size=int(16000 * seconds))
    for start in np.arange(0.5, seconds - 1, 2.5):
        i = int(start * 16000)
        burst = np.convolve(rng.normal(size=8000), np.ones(8) / 8, mode="same") * np.hanning(8000)
        x[i:i + 8000] += 0.05 * burst
    return x.astype(np.float32)


@pytest.mark.parametrize("kind", ["music", "breaths"])
def test_no_speech_gets_no_findings_and_an_abstain_reason(server, kind):
    """Music and silence with breaths (white noise: the test above): flagged, with no transcript advice shown."""
    url, features, _ = server
    audio = {"music": _music, "breaths": _breaths}[kind]()
    r = httpx.post(f"{url}/v1/score", files={"file": (f"{kind}.wav", encode(audio))}, timeout=120)
    if r.status_code == 422:  # too little sound to score at all: a named reason, which is fine too
        assert r.json()["error"]["code"] == "unusable_audio"
        return
    body = r.json()
    assert r.status_code == 200 and body["abstain"], body
    assert body.get("grammar_findings", []) == []


def test_any_container_is_accepted(server):
    url, _, wav = server
    data = encode(sg.decode_audio(wav / f"{CLIPS[1]}.wav"), "aac")
    r = httpx.post(f"{url}/v1/score", files={"file": ("answer.wav", data)}, timeout=60)  # MP4 named .wav
    assert r.status_code == 200 and r.json()["duration_s"] > 1.0


@pytest.mark.parametrize("name,data,status,code", [
    ("garbage.wav", os.urandom(5000), 422, "unreadable_audio"),
    ("empty.wav", b"", 422, "empty_file"),
    ("silent.wav", encode(np.zeros(16000, np.float32)), 422, "unusable_audio"),
    ("short.wav", encode(speechlike(0.03)), 422, "unusable_audio"),
    ("long.flac", encode(speechlike(25.0), "flac"), 413, "audio_too_long"),
    ("big.wav", encode(speechlike(40.0)), 413, "upload_too_large"),
])
def test_bad_input_gets_a_clear_4xx(server, name, data, status, code):
    url, _, _ = server
    r = httpx.post(f"{url}/v1/score", files={"file": (name, data)}, timeout=60)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and name in err["message"]


def test_missing_field_is_a_4xx(server):
    url, _, _ = server
    assert httpx.post(f"{url}/v1/score", timeout=10).status_code == 422


def test_batch_returns_one_result_or_error_per_file(server):
    url, _, wav = server
    files = [("files", ("a.wav", (wav / f"{CLIPS[2]}.wav").read_bytes())), ("files", ("bad.wav", b"nope" * 100)),
             ("files", ("b.wav", (wav / f"{CLIPS[3]}.wav").read_bytes()))]
    r = httpx.post(f"{url}/v1/score/batch", files=files, timeout=120)
    results = r.json()["results"]
    assert [x["ok"] for x in results] == [True, False, True]
    assert results[1]["error"]["code"] == "unreadable_audio" and results[1]["filename"] == "bad.wav"


def test_a_job_reports_its_stages_then_its_result(server):
    """POST /v1/jobs answers at once with an id; GET /v1/jobs/{id} goes queued -> decoding -> transcribing ->
    scoring -> done, then holds the same result /v1/score gives; unknown ids are a 404 in the error shape."""
    import time

    url, features, wav = server
    data = encode(0.93 * sg.audio.decode_audio(wav / f"{CLIPS[1]}.wav"))  # audio no test has scored: nothing cached
    r = httpx.post(f"{url}/v1/jobs", files={"file": ("answer.wav", data)}, timeout=30)
    assert r.status_code == 202, r.text
    job = r.json()
    assert job["stage"] == "queued" and job["url"] == f"/v1/jobs/{job['id']}" and len(job["id"]) == 32
    seen = []
    deadline = time.monotonic() + 120
    while job["stage"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
        job = httpx.get(url + f"/v1/jobs/{job['id']}", timeout=10).json()
        seen.append(job["stage"])
    assert job["stage"] == "done", job
    stages = [s["stage"] for s in job["stages"]]
    order = ["queued", "decoding", "transcribing", "measuring", "scoring", "done"]
    assert stages[:2] == ["queued", "decoding"] and stages[-2:] == ["scoring", "done"]
    assert stages == sorted(stages, key=order.index)  # in order (measuring shows when it outlasts transcription)
    assert ("transcribing" in stages) == features.startswith("whisper")
    assert [s["at_s"] for s in job["stages"]] == sorted(s["at_s"] for s in job["stages"])
    direct = httpx.post(f"{url}/v1/score", files={"file": ("answer.wav", data)}, timeout=60).json()
    assert job["result"]["score"] == pytest.approx(direct["score"]) and job["result"]["filename"] == "answer.wav"
    bad = httpx.post(f"{url}/v1/jobs", files={"file": ("bad.wav", b"not audio at all")}, timeout=30).json()
    while bad["stage"] not in ("done", "failed"):
        time.sleep(0.1)
        bad = httpx.get(url + f"/v1/jobs/{bad['id']}", timeout=10).json()
    assert bad["stage"] == "failed" and bad["error"]["code"] == "unreadable_audio" and "bad.wav" in bad["error"]["message"]
    missing = httpx.get(f"{url}/v1/jobs/nope", timeout=10)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "no_such_job"


def test_health_model_docs_and_page(server):
    url, features, _ = server
    assert httpx.get(f"{url}/v1/health").json()["status"] == "ok"
    m = httpx.get(f"{url}/v1/model").json()
    assert m["regressor"] == "ridge" and m["limits"]["max_upload_mb"] == 1 and len(m["featurizers"]) >= 1
    assert m["ensemble"] is None and m["abstain"]["min_snr_db"] == 8.0 and m["interval"]["coverage"] == 0.8
    assert "/v1/score" in httpx.get(f"{url}/openapi.json").json()["paths"]
    assert httpx.get(f"{url}/docs").status_code == 200
    assert "Record" in httpx.get(f"{url}/").text


def test_burst_of_concurrent_requests(server):
    url, _, wav = server
    payloads = [(wav / f"{c}.wav").read_bytes() for c in CLIPS]

    def call(data):
        return httpx.post(f"{url}/v1/score", files={"file": ("x.wav", data)}, timeout=120)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(call, payloads))
    assert [r.status_code for r in responses] == [200] * 8
    assert httpx.get(f"{url}/v1/health").status_code == 200  # still alive


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_uploads_a_file_and_shows_the_score(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    url, _, wav = server
    with playwright.sync_playwright() as p:
        browser = launch_chromium(p, CHROMIUM)
        page = browser.new_page()
        page.goto(url + "/")
        page.evaluate("""() => { window.seen = []; new MutationObserver(() => window.seen.push(
            document.getElementById('status').textContent)).observe(document.getElementById('status'),
            {childList: true, characterData: true, subtree: true}); }""")
        fresh = write(tmp_path / "answer.wav", 0.91 * sg.audio.decode_audio(wav / f"{CLIPS[4]}.wav"))  # not cached
        text = _upload(page, url, fresh, reload=False)
        stages = page.evaluate("window.seen")
        clean = page.is_hidden("[data-testid=abstain]")
        page.screenshot(path=str(tmp_path / "page.png"))
        noise = (0.1 * np.random.default_rng(1).normal(size=16000 * 3)).astype(np.float32)
        write(tmp_path / "noise.wav", noise)
        page.set_input_files("#file", str(tmp_path / "noise.wav"))
        page.wait_for_selector("[data-testid=abstain]:visible", timeout=60000)
        warning = page.inner_text("[data-testid=abstain]")
        browser.close()
    value = float(text.split(":")[1].split()[0])
    assert text.startswith("total:") and 0 <= value <= 10 and clean
    assert "(low on" in text or "(middle on" in text or "(high on" in text  # a plain-words band
    assert warning.startswith("Do not trust this score: mostly noise")
    # the server's stages, in words, while it works (a 400 ms poll may miss the short ones)
    assert any(w in s for s in stages for w in ("transcribing what was said", "measuring how it sounds")), stages


def _upload(page, url: str, clip, reload: bool = True) -> str:
    """Open the page, upload `clip`, and return the score line once it shows."""
    if reload:
        page.goto(url + "/")
    page.wait_for_selector("#model:not(:text('Loading model…'))")
    page.set_input_files("#file", str(clip))
    page.wait_for_selector("[data-testid=score]:not(:empty)", timeout=60000)
    return page.inner_text("[data-testid=score]")


def _as_job(status: int, body: dict) -> tuple[int, dict]:
    """What POST /v1/jobs answers when a job finished at once with `body` (a result, or an error)."""
    if status >= 400:
        return status, body
    return 202, {"id": "j1", "url": "/v1/jobs/j1", "stage": "done", "stages": [], "result": body}


def _page_answering(p, url, wav, answer):
    """(browser, page) of the served page whose scoring jobs answer `answer`, after uploading a clip."""
    browser = launch_chromium(p, CHROMIUM)
    page = browser.new_page()
    page.route("**/v1/jobs*", lambda route: route.fulfill(status=202, content_type="application/json",
                                                         body=json.dumps(_as_job(200, answer)[1])))
    page.goto(url + "/")
    page.set_input_files("#file", str(wav / f"{CLIPS[4]}.wav"))
    return browser, page


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_highlights_grammar_findings_in_the_transcript(server, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    url, _, wav = server
    words = [{"word": w, "start": i * 0.4, "end": i * 0.4 + 0.3, "probability": 0.9}
             for i, w in enumerate("He go to school and <b>he</b> have friends".split())]
    answer = {"filename": "a.wav", "score": 6.0, "label": {"name": "total", "min": 0, "max": 10}, "duration_s": 4.0,
              "processing_s": 0.5, "interval": {"lo": 5.0, "hi": 7.0, "coverage": 0.8}, "abstain": None,
              "features": {}, "transcript": "He go to school and <b>he</b> have friends.", "words": words,
              "grammar_findings": [{"start": 3, "end": 5, "text": "go", "kind": "Agreement", "message": "verb agreement",
                           "suggestion": "goes", "source": "harper", "start_s": 0.4, "end_s": 0.7},
                          {"start": 30, "end": 34, "text": "have", "kind": "agreement", "message": "possible error",
                           "suggestion": "has", "source": "tagger", "start_s": 2.8, "end_s": 3.1}]}
    with playwright.sync_playwright() as p:
        browser, page = _page_answering(p, url, wav, answer)
        page.wait_for_selector("[data-testid=transcript] mark", timeout=30000)
        marks = page.eval_on_selector_all("[data-testid=transcript] mark", "ms => ms.map(m => [m.textContent, m.title])")
        listed = page.inner_text("[data-testid=grammar]")
        raw_html = page.inner_html("[data-testid=transcript]")
        browser.close()
    assert marks == [["go", "Agreement: verb agreement → goes"], ["have", "agreement: possible error → has"]]
    assert "0.4 s go → goes" in listed and "2.8 s have → has" in listed
    assert "<b>" not in raw_html  # transcript text is escaped, never rendered as markup


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_draws_the_stretches_says_the_story_and_lists_fluency(server, tmp_path):
    """An embedding-driven score: the story in words instead of a contribution, each stretch's score drawn over
    time (a click plays that stretch of the uploaded recording), fillers listed under their own heading."""
    playwright = pytest.importorskip("playwright.sync_api")
    url, _, wav = server
    story = "This score comes from how the answer sounds to the encoder (Whisper's encoder states): ..."
    answer = {"filename": "a.wav", "score": 6.0, "label": {"name": "total", "min": 0, "max": 10}, "duration_s": 4.5,
              "processing_s": 0.5, "abstain": None, "features": {}, "transcript": "um I like it", "words": [],
              "grammar_findings": [], "explanation": {"whisper-encoder": 0.4, "base": 5.6},
              "fluency_findings": [{"start": 0, "end": 2, "text": "um", "kind": "Filler", "category": "fluency",
                                    "message": "a filler word", "suggestion": None, "start_s": 0.2, "end_s": 0.4}],
              "stretches": {"label": "total", "window_s": 2.0, "hop_s": 1.0, "clip_score": 6.0, "weighted_mean": 5.8,
                            "lowest": 1, "embedding": True, "story": story,
                            "windows": [{"start_s": 0.0, "end_s": 2.0, "score": 6.5},
                                        {"start_s": 1.0, "end_s": 3.0, "score": 4.0},
                                        {"start_s": 2.0, "end_s": 4.5, "score": 7.0}]}}
    with playwright.sync_playwright() as p:
        browser, page = _page_answering(p, url, wav, answer)
        page.wait_for_selector("[data-testid=stretches] svg circle", timeout=30000)
        circles = page.eval_on_selector_all("[data-testid=stretches] circle", "cs => cs.map(c => c.getAttribute('fill'))")
        told = page.inner_text("[data-testid=story]")
        table_hidden = page.is_hidden("#explanation")
        fluency = page.inner_text("[data-testid=fluency]")
        lowest = page.inner_text("#stretch-lowest")
        page.screenshot(path=str(tmp_path / "stretches.png"), full_page=True)
        page.click("[data-testid=stretches] .hit:nth-of-type(2)")
        at = page.evaluate("document.getElementById('player').currentTime")
        browser.close()
    assert circles == ["#3a7bd5", "#c62828", "#3a7bd5"]  # the lowest stretch in red
    assert told == story and table_hidden
    assert "0.2 s um: a filler word" in fluency
    assert lowest.startswith("The lowest stretch is 0:01.0–0:03.0 (4.00)")
    assert 1.0 <= at < 3.0  # the click went to that stretch of the recording


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_shows_every_sub_score(server):
    playwright = pytest.importorskip("playwright.sync_api")
    url, _, wav = server
    labels = [{"name": n, "min": 0, "max": 10} for n in ("fluency", "accuracy")]
    answer = {"filename": "a.wav", "label": {"names": ["fluency", "accuracy"], "labels": labels},
              "scores": {"fluency": {"score": 7.25, "interval": {"lo": 6.0, "hi": 8.5, "coverage": 0.8}},
                         "accuracy": {"score": 5.5, "interval": {"lo": 4.0, "hi": 7.0, "coverage": 0.8}}},
              "overall": 6.375, "duration_s": 3.0, "processing_s": 0.4, "abstain": None, "features": {}}
    with playwright.sync_playwright() as p:
        browser, page = _page_answering(p, url, wav, answer)
        page.wait_for_selector("[data-testid=score]:not(:empty)", timeout=30000)
        text = page.inner_text("[data-testid=score]")
        browser.close()
    assert "fluency: 7.25" in text and "accuracy: 5.50" in text and "overall: 6.38" in text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_page_clears_the_old_score_and_speaks_plainly(server, tmp_path):
    """While a new file is scored and after an error, no old score stays; errors read as words, not library text;
    measures and contributions are named in words; no findings on an abstained clip."""
    playwright = pytest.importorskip("playwright.sync_api")
    url, _, wav = server
    good = {"filename": "a.wav", "score": 6.0, "label": {"name": "total", "min": 0, "max": 10}, "duration_s": 4.0,
            "processing_s": 0.5, "abstain": None, "transcript": "hello there", "words": [],
            "grammar_findings": [], "explanation": {"acoustic": 0.4, "base": 5.6},
            "features": {"acoustic.pause_count": 4.0}}
    bad = {"error": {"code": "unreadable_audio",
                     "message": "x.wav: not a readable audio file (InvalidDataError: [Errno 1094995529] Invalid data)"}}
    with playwright.sync_playwright() as p:
        browser = launch_chromium(p, CHROMIUM)
        page = browser.new_page()
        answers = iter([(200, good), (422, bad)])

        def answer(route):
            status, body = _as_job(*next(answers))
            route.fulfill(status=status, content_type="application/json", body=json.dumps(body))

        page.route("**/v1/jobs*", answer)
        first = _upload(page, url, wav / f"{CLIPS[4]}.wav")
        measures = page.inner_text("[data-testid=features]")
        drove = page.inner_text("#explanation")
        findings = page.inner_text("[data-testid=grammar]")
        page.screenshot(path=str(tmp_path / "scored.png"))
        page.evaluate("""() => { window.seen = []; new MutationObserver(() => window.seen.push(
            [document.getElementById('status').textContent, document.getElementById('result').hidden]))
            .observe(document.getElementById('status'), {childList: true, characterData: true, subtree: true}); }""")
        page.set_input_files("#file", str(wav / f"{CLIPS[5]}.wav"))
        page.wait_for_selector("#error:not(:empty)", timeout=30000)
        seen = page.evaluate("window.seen")
        error = page.inner_text("#error")
        after_error = page.is_visible("[data-testid=score]")
        link = page.get_attribute("#card-link", "href")
        browser.close()
    assert first.startswith("total: 6.00")
    assert "acoustic.pause_count" not in measures and "pauses" in measures  # words, not column names
    assert "acoustic measures" in drove and "average score" in drove
    assert "not proof of error-free speech" in findings
    assert seen and all(hidden for text, hidden in seen if "…" in text)  # the old score is gone while scoring
    assert any("uploading" in text for text, _ in seen)
    assert error.startswith("This file could not be read as audio") and not after_error
    assert link == "/v1/card"


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_docs_render_with_no_network(server):
    """/docs draws the API from the installed Swagger UI: every request off this host is refused."""
    playwright = pytest.importorskip("playwright.sync_api")
    url, _, _ = server
    outside = []
    with playwright.sync_playwright() as p:
        browser = launch_chromium(p, CHROMIUM)
        page = browser.new_page()

        def only_local(route):
            if route.request.url.startswith(url):
                route.continue_()
            else:
                outside.append(route.request.url)
                route.abort()

        page.route("**/*", only_local)
        page.goto(url + "/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30000)
        text = page.inner_text("body")
        browser.close()
    assert "/v1/health" in text and "/v1/card" in text and not outside
