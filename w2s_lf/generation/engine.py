"""The engine of a jobs file: one backend (or N data-parallel engines on Ray) serving the base
model and every adapter the jobs name, started on first use and shared by the jobs."""

from __future__ import annotations

from w2s_lf.generation.backends import DEFAULT_BATCH_SIZES, make_backend, serve
from w2s_lf.generation.jobs import EngineSpec


class SharedEngine:
    """Passed as the backend of each job; a job names its adapter on each call. `starts` counts
    engine starts (one per jobs file, or none when every job is already done)."""

    def __init__(self, spec: EngineSpec, model: str, adapters: list[str]):
        self.spec, self.model, self.adapters = spec, model, adapters
        self.backend = None
        self.starts = 0
        self.default_batch_size = DEFAULT_BATCH_SIZES[spec.backend]

    def start(self) -> None:
        """Start the engine now (a job does, so that start-up is not counted as generation)."""
        self._started()

    def _started(self):
        if self.backend is None:
            spec, options = self.spec, self.spec.backend_options()
            cpus = options.pop("cpus_per_engine", 1)   # Ray's share of a node for each engine
            if spec.data_parallel_size > 1:
                from w2s_lf.generation.parallel import DataParallelEngine
                self.backend = DataParallelEngine(spec.backend, self.model, self.adapters, options,
                                                  spec.data_parallel_size, spec.tensor_parallel_size,
                                                  spec.ray_address, cpus)
            else:
                self.backend = make_backend(spec.backend, self.model, adapters=self.adapters, **options)
            self.starts += 1
        return self.backend

    @property
    def info(self):
        return self._started().info

    def generate(self, prompts, sampling, adapter=None):
        return self._started().generate(prompts, sampling, adapter=adapter)

    def serve(self, take, window=256):
        return serve(self._started(), take, window)

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None
