"""One generation run from flat fields, as `w2s-lf generate` makes it: a jobs file with one job."""

from __future__ import annotations


def generate(engine=None, progress: bool = False, **fields) -> dict:
    """Run one job (`w2s_lf.generation.one_job(**fields)`) on `engine` when given (a started
    engine serving the job's adapter), else on an engine of its own; return its summary."""
    from w2s_lf.generation import one_job, run_jobs
    summary, = run_jobs(one_job(**fields), progress=progress, engine=engine)
    return summary
