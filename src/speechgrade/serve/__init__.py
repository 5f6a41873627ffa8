"""HTTP serving of a saved scorer: FastAPI app and a static web page."""

from .app import ServeConfig, create_app

__all__ = ["ServeConfig", "create_app"]
