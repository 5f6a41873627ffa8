"""FastAPI app: POST /v1/score, /v1/score/batch, /v1/jobs; GET /v1/jobs/{id}, /v1/health, /v1/model, / (web page), /docs."""

from __future__ import annotations

import logging
import os
import re
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, File, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..bundle import Manifest, describe, read_manifest

from .config import ServeConfig
from .jobs import JOBS_FILE, Jobs
from .pool import ApiError, ScoringPool
from .snapshot import remove_snapshot, snapshot_bundle

MANIFEST_FIELDS = set(Manifest.__dataclass_fields__) - {"meta"}
log = logging.getLogger("speechgrade.serve")
MULTIPART_SLACK = 64 * 1024  # form boundaries and part headers beside the file bytes
STRETCHES = Query(False, description="Add `stretches`: the model's score of each 10 s stretch (one every 5 s, at "
                  "most 12) scored alone, with times; about doubles the scoring time")


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


class BodyGuard:
    """ASGI wrapper: refuses a body over its path's limit (declared or as read) and a body that takes longer
    than `timeout_s` to arrive, without reading or storing the rest; answers 413 / 408 in the error shape."""

    def __init__(self, app, limits: dict[str, int], default_limit: int, timeout_s: float, max_requests: int = 100):
        self.app, self.limits, self.default_limit, self.timeout_s = app, limits, default_limit, timeout_s
        self.max_requests, self.in_progress = max_requests, 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if self.in_progress >= self.max_requests:
            return await _error(503, "busy", f"{self.in_progress} requests are in progress, the limit is "
                                f"{self.max_requests}; retry")(scope, receive, send)
        self.in_progress += 1
        try:
            await self._guarded(scope, receive, send)
        finally:
            self.in_progress -= 1

    async def _guarded(self, scope, receive, send):
        limit = self.limits.get(scope["path"], self.default_limit)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            name = await _peek_filename(receive)  # at most 4 KB, 1 s: the rest is never read
            return await _error(413, "upload_too_large", f"{name + ': ' if name else ''}request body of "
                                f"{int(declared) / 2**20:.1f} MB is over the {(limit - MULTIPART_SLACK) / 2**20:g} MB "
                                f"limit")(scope, receive, send)
        state = {"read": 0, "head": b"", "failed": None, "started": False}
        deadline = anyio.current_time() + self.timeout_s

        async def guarded_receive():
            try:
                with anyio.fail_after(max(deadline - anyio.current_time(), 0.001)):
                    message = await receive()
            except TimeoutError:
                state["failed"] = (408, "body_timeout", f"the request body took longer than {self.timeout_s:g} s")
                raise ApiError(*state["failed"]) from None
            if message["type"] == "http.request":
                body = message.get("body", b"")
                state["read"] += len(body)
                state["head"] = (state["head"] + body)[:4096] if len(state["head"]) < 4096 else state["head"]
                if state["read"] > limit:
                    name = _first_filename(state["head"])
                    state["failed"] = (413, "upload_too_large", f"{name + ': ' if name else ''}larger than the "
                                       f"{(limit - MULTIPART_SLACK) / 2**20:g} MB limit")
                    raise ApiError(*state["failed"])
            return message

        async def guarded_send(message):
            if state["failed"] is None:  # once the body is refused, the app's own answer is dropped
                state["started"] = True
                await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if state["failed"] is None:
                raise
        if state["failed"] is not None and not state["started"]:
            await _error(*state["failed"])(scope, receive, send)


async def _peek_filename(receive) -> str | None:
    """The first part's filename from at most the first 4 KB of a body (within 1 s), for the error message."""
    head = b""
    with anyio.move_on_after(1.0):
        while len(head) < 4096:
            message = await receive()
            head += message.get("body", b"")
            if message["type"] != "http.request" or not message.get("more_body"):
                break
    return _first_filename(head)


def _first_filename(head: bytes) -> str | None:
    """The filename of the first multipart part, from the start of the body (for the error message)."""
    m = re.search(rb'filename="([^"\r\n]{1,200})"', head)
    return m.group(1).decode("utf-8", "replace") if m else None


async def _read_upload(upload: UploadFile, limit: int) -> bytes:
    """Read an upload, refusing it as soon as it passes `limit` bytes."""
    chunks, size = [], 0
    while chunk := await upload.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "upload_too_large", f"{upload.filename}: larger than the {limit / 2**20:g} MB limit")
        chunks.append(chunk)
    if not size:
        raise ApiError(422, "empty_file", f"{upload.filename}: empty file (0 bytes)")
    return b"".join(chunks)


def _offline_docs(app: FastAPI) -> None:
    """/docs with Swagger UI served from the installed `swagger-ui-bundle` package, so it renders with no network
    (FastAPI's default loads its scripts from a CDN); without the package, the CDN as before."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        from fastapi.staticfiles import StaticFiles
        from swagger_ui_bundle import swagger_ui_path

        app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")
        assets = {"swagger_js_url": "/docs-assets/swagger-ui-bundle.js", "swagger_css_url": "/docs-assets/swagger-ui.css",
                  "swagger_favicon_url": "data:,"}
    except ImportError:
        assets = {}

    @app.get("/docs/openapi.json", include_in_schema=False)
    async def schema_for_docs():
        # the packaged Swagger UI (4.x) draws OpenAPI 3.0 only; FastAPI writes 3.1, which it reads as 3.0 here
        return {**app.openapi(), "openapi": "3.0.3"} if assets else app.openapi()

    @app.get("/docs", include_in_schema=False)
    async def docs():
        return get_swagger_ui_html(openapi_url="/docs/openapi.json", title="speechgrade API", **assets)


def _words(manifest: Manifest) -> tuple[dict[str, str], dict[str, str]]:
    """What the page shows instead of raw names: each feature family's title ("how it sounds") and each summary
    column's meaning with its unit, from the featurizers' own declarations."""
    from ..columns import prefixes
    from ..features import FEATURIZERS

    names = [f["name"] for f in manifest.featurizers]
    titles, descriptions = {}, {}
    for prefix, name in zip(prefixes(names), names):
        cls = FEATURIZERS.get(name)
        if cls is None:
            continue
        titles[prefix] = cls.title or name
        descriptions |= {f"{prefix}.{col}": meaning for col, meaning in cls.descriptions.items()}
    return titles, descriptions


def create_app(config: ServeConfig, snapshot: str | os.PathLike | None = None) -> BodyGuard:
    """The app for one model bundle: `concurrency` worker processes each load it once and score uploads.

    `snapshot` is a copy taken by `snapshot_bundle` that every process of a server serves (its owner removes
    it); without one, the app takes its own and removes it at shutdown."""
    owned = snapshot is None
    snapshot = snapshot_bundle(config.model_dir) if owned else Path(snapshot)  # served whatever happens to the folder
    try:
        body = read_manifest(snapshot)
        members = {m: Manifest(**{k: v for k, v in b.items() if k in MANIFEST_FIELDS})
                   for m, b in body["members"].items()} \
            if body.get("kind") == "multi-label" else {None: Manifest.load(snapshot)}
        manifest = next(iter(members.values()))
        pool = ScoringPool(str(snapshot), config.cache, config.concurrency, config.max_audio_s, config.plugins)
    except BaseException:
        if owned:
            remove_snapshot(snapshot)
        raise
    labels = [{"name": m.label["name"], "min": m.label["min"], "max": m.label["max"]} for m in members.values()]
    label = labels[0] if len(labels) == 1 else {"names": [lb["name"] for lb in labels], "labels": labels}
    description = describe(manifest) if len(labels) == 1 else \
        f"{len(labels)} sub-scores ({', '.join(lb['name'] for lb in labels)}): " + describe(manifest).split(" from ", 1)[-1]
    model_info = {"id": os.path.basename(os.path.abspath(config.model_dir)), "created": body.get("created"),
                  "speechgrade": body.get("libraries", {}).get("speechgrade"),
                  "fingerprint": body.get("checksum", "")[:12], "description": description}
    family_titles, feature_descriptions = _words(manifest)
    app = FastAPI(title="speechgrade", version=str(model_info["speechgrade"]), docs_url=None, redoc_url=None,
                  description=f"Scores spoken English: {', '.join(lb['name'] for lb in labels)}.")
    jobs = Jobs(snapshot.parent / JOBS_FILE, max_running=config.max_requests)  # one table for every process
    app.router.on_shutdown.append(jobs.cancel_all)
    app.router.on_shutdown.append(pool.close)
    if owned:
        app.router.on_shutdown.append(lambda: remove_snapshot(snapshot))
    upload_limit = int(config.max_upload_mb * 2**20)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        where = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in exc.errors()[:5])
        return _error(422, "invalid_request", f"the request does not fit the API ({where})")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        codes = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large"}
        detail = str(exc.detail)
        if exc.status_code == 400 and "multipart" in detail.lower():  # the parser says what, not why
            detail = (f"{detail.rstrip('.')}: the form could not be read. A part header over 8 KB (a filename of "
                      f"thousands of characters, say) or a malformed form does this; send the recording as the "
                      f"multipart field `file` with a filename under 255 characters")
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), detail)

    async def score_bytes(name: str, data: bytes, on_stage=None, stretches: bool = False) -> dict[str, Any]:
        return {"filename": name, **(await pool.score(name, data, config.timeout_s, on_stage, stretches)),
                "label": label, "model": model_info}

    async def score_upload(upload: UploadFile, stretches: bool = False) -> dict[str, Any]:
        return await score_bytes(upload.filename or "upload", await _read_upload(upload, upload_limit),
                                 stretches=stretches)

    async def one_file(request: Request) -> None:
        form = await request.form()
        if len(form.getlist("file")) != 1:
            raise ApiError(422, "ambiguous_request", f"send exactly one multipart field `file` (got "
                           f"{len(form.getlist('file'))}; several recordings go to /v1/score/batch as `files`)")

    @app.post("/v1/score", summary="Score one recording (multipart field `file`); `?stretches=1` adds the score of "
              "each stretch")
    async def score(request: Request, file: UploadFile = File(...), stretches: bool = STRETCHES):
        await one_file(request)
        return await score_upload(file, stretches)

    @app.post("/v1/jobs", status_code=202,
              summary="Start scoring one recording (multipart field `file`); follow it at /v1/jobs/{id}")
    async def start_job(request: Request, file: UploadFile = File(...), stretches: bool = STRETCHES):
        await one_file(request)
        name = file.filename or "upload"
        data = await _read_upload(file, upload_limit)
        job = jobs.start(name, lambda on_stage: score_bytes(name, data, on_stage, stretches))
        return JSONResponse({**job.to_dict(), "url": f"/v1/jobs/{job.id}"}, status_code=202)

    @app.get("/v1/jobs/{job_id}", summary="A scoring job's stage (queued, decoding, transcribing, measuring, "
             "scoring, done, failed), and its result or error when finished")
    def get_job(job_id: str):  # a thread: the shared table may wait a moment for another process's write
        return jobs.get(job_id).to_dict()

    @app.post("/v1/score/batch", summary="Score several recordings (multipart field `files`)")
    async def score_batch(files: list[UploadFile] = File(...)):
        if len(files) > config.max_batch_files:
            raise ApiError(413, "too_many_files", f"{len(files)} files, the limit is {config.max_batch_files}")
        results = []
        for f in files:
            try:
                results.append({"ok": True, **await score_upload(f)})
            except ApiError as exc:
                results.append({"ok": False, "filename": f.filename,
                                "error": {"code": exc.code, "message": exc.message, "status": exc.status}})
        return {"results": results}

    @app.get("/v1/health", summary="Liveness: how many scoring workers are alive (503 when none)")
    async def health():
        workers = pool.status()
        status = "ok" if workers["alive"] == workers["size"] else "degraded" if workers["alive"] else "down"
        answer = {"status": status, "model": model_info["id"], "fingerprint": model_info["fingerprint"],
                  "workers": workers}
        return answer if workers["alive"] else JSONResponse(answer, status_code=503)

    @app.get("/v1/model", summary="What the loaded model is")
    async def model():
        per_label = {m.label["name"]: {"label": lb, "regressor": m.model["regressor"], "cv_metrics": m.cv_metrics,
                                       "interval": m.interval, "rubric": m.rubric}
                     for m, lb in zip(members.values(), labels)}
        return {**model_info, "label": label, "labels": per_label, "overall": body.get("overall"),
                "featurizers": [f["spec"] for f in manifest.featurizers],
                "regressor": manifest.model["regressor"], "ensemble": manifest.model.get("ensemble"),
                "rubric": manifest.rubric, "abstain": manifest.abstain,
                "interval": manifest.interval, "n_features": len(manifest.feature_columns),
                "training_data": manifest.training_data, "cv_metrics": manifest.cv_metrics,
                "card": card_text, "family_titles": family_titles, "feature_descriptions": feature_descriptions,
                "feature_ranges": (manifest.training_data or {}).get("feature_ranges") or {},
                "limits": {"max_upload_mb": config.max_upload_mb, "max_audio_s": config.max_audio_s,
                           "timeout_s": config.timeout_s, "body_timeout_s": config.body_timeout_s,
                           "max_batch_files": config.max_batch_files}}

    from ..card import CARD, model_card

    card_text = (snapshot / CARD).read_text(encoding="utf-8") if CARD in body.get("files", {}) else model_card(body)

    @app.get("/v1/card", summary="The model card (Markdown)", response_class=PlainTextResponse)
    async def card():
        return PlainTextResponse(card_text, media_type="text/markdown; charset=utf-8")

    _offline_docs(app)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return (resources.files("speechgrade") / "serve" / "static" / "index.html").read_text(encoding="utf-8")

    limits = {"/v1/score": upload_limit + MULTIPART_SLACK, "/v1/jobs": upload_limit + MULTIPART_SLACK,
              "/v1/score/batch": config.max_batch_files * upload_limit + MULTIPART_SLACK}
    guarded = BodyGuard(app, limits, MULTIPART_SLACK, config.body_timeout_s, config.max_requests)
    guarded.fastapi = app
    return guarded


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          max_connections: int = 100, header_timeout_s: float = 10.0) -> None:
    """Run the app under uvicorn in `workers` server processes that are one service: one bundle snapshot taken
    here before any starts (every process and restart serves it), one job table, at most `max_connections`
    requests in progress per process (more get a JSON 503), request headers bounded by `header_timeout_s`
    (see protocol.py). The snapshot is removed when the server stops."""
    import uvicorn

    from .supervisor import ServerSpec, Supervisor, bind, setup_logging, uvicorn_config

    setup_logging()
    config = replace(config, max_requests=max_connections)
    snapshot = snapshot_bundle(config.model_dir)
    spec = ServerSpec(create_app, config, str(snapshot), host, port, header_timeout_s, max(64, 4 * max_connections))
    try:
        if workers == 1:
            uvicorn.Server(uvicorn_config(create_app(config, snapshot), spec)).run()
        else:
            sock = bind(host, port)
            try:
                Supervisor(spec, sock, workers).run()
            finally:
                sock.close()
    finally:
        remove_snapshot(snapshot)
