"""Extraction engines: `local` (default, in this process) and `ray` (a Ray cluster, `speechgrade[ray]`)."""

from __future__ import annotations

ENGINES = ("local", "ray")
