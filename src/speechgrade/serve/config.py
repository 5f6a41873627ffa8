"""What a server loads and the limits it enforces (one dataclass, handed to every server process)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ServeConfig:
    """What the server loads and the limits it enforces."""

    model_dir: str
    max_upload_mb: float = 25.0
    max_audio_s: float = 600.0
    timeout_s: float = 120.0
    concurrency: int = 2
    cache: str | None = None
    body_timeout_s: float = 30.0  # the longest a client may take to send a request body
    max_batch_files: int = 16
    max_requests: int = 100  # requests in progress at once (more get a JSON 503)
    plugins: list[str] = field(default_factory=list)  # modules that register featurizers or regressors
