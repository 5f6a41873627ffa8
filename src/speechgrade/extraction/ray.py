"""Feature extraction on a Ray cluster with Ray Data.

The manifest becomes a Ray dataset; `map_batches` runs an actor pool (each actor builds the
featurizers, and so loads its models, once) that writes into the same content-addressed cache as the
local engine, which must therefore be on storage every worker can reach. The driver then reads the
table back through the local engine, so the vectors are those of the local engine by construction,
and a re-run after a crash computes only what the cache lacks. Ray retries failed tasks and restarts
killed actors.

The workers take the driver's options (`max_audio_s`, `min_samples`, `fingerprints`...) and its featurizers
themselves: each one's class and config, rebuilt in the actor by `from_config` as a bundle rebuilds it. A class
from outside speechgrade (a plug-in, perhaps registered only in the driver) travels by value, so the workers need
not import it; and an actor whose featurizers would write elsewhere in the cache (other weights there) refuses to
start rather than leave the driver to compute them again.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, Iterator

import numpy as np
import pandas as pd

from ..audio import MAX_AUDIO_S, MIN_SAMPLES
from ..errors import ConfigError
from ..extras import require
from ..dataset import Dataset
from .local import ExtractReport, Extractor, as_dataset


def require_ray() -> None:
    """ConfigError naming the extra when Ray Data is not installed."""
    require("the ray engine", ("ray", "ray.data"), "'speechgrade[ray]'")


class _ExtractActor:
    """A Ray Data actor: builds the featurizers once, extracts each batch into the shared cache."""

    def __init__(self, featurizers: list[tuple[type, dict[str, Any]]], namespaces: list[str], cache_root: str,
                 options: dict[str, Any]):
        built = [cls.from_config(config) for cls, config in featurizers]
        self.extractor = Extractor(built, cache_root, progress=False, **options)
        for f, here, there in zip(built, self.extractor.namespaces(), namespaces):
            if here != there:  # its vectors would land where the driver does not read them
                raise ConfigError(f"featurizer '{f.name}' differs on a Ray worker from the driver's (its models or "
                                  f"weights?): cache folder {here}, not {there}")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [str(n) for n in batch["filename"]]
        table = pd.DataFrame({"path": [str(p) for p in batch["path"]]}, index=pd.Index(names, name="filename"))
        _, report = self.extractor.run(Dataset(table))
        computed = set(report.computed)
        return {"filename": np.array(names), "computed": np.array([n in computed for n in names])}


class RayExtractor:
    """Extract with Ray Data into the shared cache, then read the table back like the local engine."""

    def __init__(self, featurizers, cache=None, batch_size: int = 8, min_samples: int = MIN_SAMPLES,
                 progress: bool = True, max_audio_s: float | None = MAX_AUDIO_S, fingerprints: bool = True,
                 address: str | None = None, num_gpus_per_worker: float = 0.0, workers: int | None = None):
        require_ray()
        self.local = Extractor(featurizers, cache, batch_size, min_samples, progress, max_audio_s,
                               fingerprints=fingerprints)
        if self.local.cache.root.name == "<memory>":
            raise ConfigError("the ray engine needs a cache folder that every worker can reach (--cache DIR)")
        self.address, self.num_gpus, self.workers = address, float(num_gpus_per_worker), workers

    @property
    def featurizers(self):
        """The featurizers (as the local engine has them)."""
        return self.local.featurizers

    @property
    def cache(self):
        """The shared feature cache."""
        return self.local.cache

    def columns(self) -> list[str]:
        """Output column names (as the local engine's)."""
        return self.local.columns()

    def worker_options(self) -> dict[str, Any]:
        """The local engine's options, as each worker's extractor takes them."""
        local = self.local
        return {"batch_size": local.batch_size, "min_samples": local.min_samples, "max_audio_s": local.max_audio_s,
                "fingerprints": local.fingerprints}

    def compute(self, dataset: Dataset) -> set[str]:
        """Run the actor pool over the rows; returns the names whose features the workers computed."""
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, ignore_reinit_error=True, log_to_driver=False,
                     runtime_env={"env_vars": {"SPEECHGRADE_CACHE": str(self.cache.root)}})
        rows = [{"filename": n, "path": str(p)} for n, p in zip(dataset.filenames, dataset.paths)]
        if not rows:
            return set()
        cpus = int(ray.available_resources().get("CPU", 1))
        workers = self.workers or max(1, min(cpus, len(rows) // max(self.local.batch_size, 1) or 1))
        ds = ray.data.from_items(rows)
        # an actor pool: each actor loads its models once; Ray Data restarts lost actors and retries their
        # batches, and whatever a crashed run finished is already in the cache
        out = ds.map_batches(
            _ExtractActor, batch_size=self.local.batch_size, compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=self.num_gpus or None,
            fn_constructor_kwargs={"featurizers": [(type(f), f.config()) for f in self.featurizers],
                                   "namespaces": self.local.namespaces(), "cache_root": str(self.cache.root),
                                   "options": self.worker_options()})
        with plugins_by_value(self.featurizers):  # the actors' arguments are pickled while the rows are read
            return {str(r["filename"]) for r in out.iter_rows() if r["computed"]}

    def run(self, dataset: Dataset, on_stage=None) -> tuple[pd.DataFrame, ExtractReport]:
        """Features and report, as `Extractor.run` gives them (`on_stage` hears "extracting" once)."""
        if on_stage is not None:
            on_stage("extracting")
        dataset, clips = as_dataset(dataset)
        if clips:
            raise ConfigError("the ray engine extracts files; score decoded clips with the local engine")
        computed = self.compute(dataset)
        table, report = self.local.run(dataset)  # every entry is now cached: this reads, hashes, assembles
        report.computed = sorted(computed & set(table.index))
        report.processed, report.cached = len(report.computed), len(table) - len(report.computed)
        return table, report

    def prefixes(self) -> list[str]:
        """The column family of each featurizer (as the local engine's)."""
        return self.local.prefixes()

    def duplicates(self, names, report):
        """Duplicate clusters (as the local engine finds them)."""
        return self.local.duplicates(names, report)


@contextlib.contextmanager
def plugins_by_value(featurizers) -> Iterator[None]:
    """While inside, Ray pickles the modules of featurizer classes from outside speechgrade by value (their code
    travels; a worker need not import them), then as before."""
    from ray import cloudpickle

    before = set(cloudpickle.list_registry_pickle_by_value())  # the user's own registrations stay
    plugins = {type(f).__module__ for f in featurizers} - before - {"__main__"}  # __main__ goes by value anyway
    plugins = [m for m in plugins if m.split(".")[0] != "speechgrade" and m in sys.modules]
    try:
        for name in plugins:
            cloudpickle.register_pickle_by_value(sys.modules[name])
        yield
    finally:
        for name in plugins:
            cloudpickle.unregister_pickle_by_value(sys.modules[name])


def ray_available() -> bool:
    """Whether Ray Data can be imported here."""
    try:
        require_ray()
        return True
    except ConfigError:
        return False

