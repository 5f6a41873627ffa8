"""FastAPI app: POST /v1/score, /v1/score/batch; GET /v1/health, /v1/model, / (web page), /docs."""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import anyio
from fastapi import FastAPI, File, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from ..audio import UnusableAudio, check_usable, decode_with_info
from ..errors import AudioError
from ..extraction import Clip
from ..scorer import Scorer

log = logging.getLogger("speechgrade.serve")
CONFIG_ENV = "SPEECHGRADE_SERVE_CONFIG"


@dataclass
class ServeConfig:
    """What the server loads and the limits it enforces."""

    model_dir: str
    max_upload_mb: float = 25.0
    max_audio_s: float = 600.0
    timeout_s: float = 120.0
    concurrency: int = 2
    cache: str | None = None


class ApiError(Exception):
    """An error answered as JSON with an HTTP status."""

    def __init__(self, status: int, code: str, message: str):
        self.status, self.code, self.message = status, code, message


class ModelFailure(Exception):
    """A featurizer or the model failed on a clip that decoded and passed the checks."""


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


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


def create_app(config: ServeConfig) -> FastAPI:
    """The app for one model bundle, loaded once; heavy work runs in worker threads."""
    scorer = Scorer.load(config.model_dir, cache=config.cache)
    scorer.extractor().columns()  # load every model now, not on the first request
    manifest = scorer.manifest_.to_dict()
    limiter = anyio.CapacityLimiter(max(1, config.concurrency))
    model_info = {"id": os.path.basename(os.path.abspath(config.model_dir)), "created": manifest.get("created"),
                  "speechgrade": manifest.get("libraries", {}).get("speechgrade"),
                  "fingerprint": manifest.get("checksum", "")[:12]}
    label = {"name": manifest["label"]["name"], "min": manifest["label"]["min"], "max": manifest["label"]["max"]}
    app = FastAPI(title="speechgrade", version=str(model_info["speechgrade"]),
                  description=f"Scores spoken English: label '{label['name']}' on {label['min']:g}-{label['max']:g}.")

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.code, exc.message)

    def score_bytes(name: str, data: bytes) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            audio, info = decode_with_info(data)
        except AudioError as exc:
            raise ApiError(422, "unreadable_audio", f"{name}: {exc.reason}") from None
        if info.duration_s > config.max_audio_s:
            raise ApiError(413, "audio_too_long",
                           f"{name}: {info.duration_s:.0f} s of audio, the limit is {config.max_audio_s:g} s")
        try:
            check_usable(audio, name)
        except UnusableAudio as exc:
            raise ApiError(422, "unusable_audio", f"{name}: {exc.reason}") from None
        scores = scorer.score([Clip(name, audio, info)], explain=True, details=True)
        if name in scores.problems:
            raise ModelFailure(f"{name}: {scores.problems[name]}")
        result = scores.record(name)
        return {"filename": name, "score": result["score"], "label": label, "model": model_info,
                "duration_s": round(info.duration_s, 3), "processing_s": round(time.perf_counter() - started, 3),
                **{k: v for k, v in result.items() if k not in ("filename", "score")}}

    async def score_upload(upload: UploadFile) -> dict[str, Any]:
        data = await _read_upload(upload, int(config.max_upload_mb * 2**20))
        name = upload.filename or "upload"
        try:
            with anyio.fail_after(config.timeout_s):
                return await anyio.to_thread.run_sync(score_bytes, name, data, limiter=limiter)
        except TimeoutError:
            raise ApiError(504, "timeout", f"{name}: scoring took longer than {config.timeout_s:g} s") from None
        except ApiError:
            raise
        except Exception:  # ModelFailure, or a bug: logged with an id, answered without internals
            error_id = uuid.uuid4().hex[:12]
            log.exception("model error %s on %s", error_id, name)
            raise ApiError(500, "model_error", f"{name}: the model failed (error id {error_id})") from None

    @app.post("/v1/score", summary="Score one recording (multipart field `file`)")
    async def score(file: UploadFile = File(...)):
        return await score_upload(file)

    @app.post("/v1/score/batch", summary="Score several recordings (multipart field `files`)")
    async def score_batch(files: list[UploadFile] = File(...)):
        results = []
        for f in files:
            try:
                results.append({"ok": True, **await score_upload(f)})
            except ApiError as exc:
                results.append({"ok": False, "filename": f.filename,
                                "error": {"code": exc.code, "message": exc.message, "status": exc.status}})
        return {"results": results}

    @app.get("/v1/health", summary="Liveness")
    async def health():
        return {"status": "ok", "model": model_info["id"]}

    @app.get("/v1/model", summary="What the loaded model is")
    async def model():
        return {**model_info, "label": label, "featurizers": [f["spec"] for f in manifest["featurizers"]],
                "regressor": manifest["model"]["regressor"], "ensemble": manifest["model"].get("ensemble"),
                "rubric": manifest.get("rubric"), "abstain": manifest.get("abstain"),
                "interval": manifest.get("interval"), "n_features": len(manifest["feature_columns"]),
                "training_data": manifest.get("training_data"), "cv_metrics": manifest.get("cv_metrics"),
                "limits": {"max_upload_mb": config.max_upload_mb, "max_audio_s": config.max_audio_s,
                           "timeout_s": config.timeout_s}}

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return (resources.files("speechgrade") / "serve" / "static" / "index.html").read_text(encoding="utf-8")

    return app


def app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` (several workers): the config comes from $SPEECHGRADE_SERVE_CONFIG."""
    return create_app(ServeConfig(**json.loads(os.environ[CONFIG_ENV])))


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run the app under uvicorn."""
    import uvicorn

    os.environ[CONFIG_ENV] = json.dumps(asdict(config))
    uvicorn.run("speechgrade.serve.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info")
