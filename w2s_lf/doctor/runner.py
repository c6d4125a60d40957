"""Run a list of checks: one line each (pass, warn, fail or skip, with the cause and the time),
then a verdict. A check that needs another one is skipped, naming it, when that one failed."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from w2s_lf.errors import W2SError

STATUSES = ("pass", "warn", "fail", "skip")


@dataclass(frozen=True)
class Check:
    name: str
    run: Callable[[], tuple[str, str]]   # -> (status, one line of detail)
    needs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    name: str
    status: str
    detail: str
    seconds: float
    blocked: bool = False    # skipped because a check it needs failed: counts as a failure

    @property
    def bad(self) -> bool:
        return self.status == "fail" or self.blocked

    def line(self) -> str:
        took = f" ({self.seconds:.1f} s)" if self.status != "skip" else ""
        return f"{self.status.upper():<4}  {self.name:<22} {self.detail}{took}"


def run_check(check: Check, failed: set[str]) -> Outcome:
    blocked = [n for n in check.needs if n in failed]
    if blocked:
        return Outcome(check.name, "skip", f"needs {', '.join(blocked)}, which did not pass", 0.0, blocked=True)
    start = time.monotonic()
    try:
        status, detail = check.run()
    except W2SError as e:
        status, detail = "fail", str(e)
    except Exception as e:   # noqa: BLE001 - every failure is reported, none hides the next check
        status, detail = "fail", f"{type(e).__name__}: {e}"
    if status not in STATUSES:
        raise ValueError(f"check {check.name}: unknown status {status!r}")
    return Outcome(check.name, status, detail, time.monotonic() - start)


def run_checks(checks: list[Check], echo: Callable[[str], None] = print) -> list[Outcome]:
    """Each check in order, its line printed as soon as it is done."""
    outcomes, failed = [], set()
    for check in checks:
        outcome = run_check(check, failed)
        if outcome.bad:
            failed.add(check.name)
        outcomes.append(outcome)
        echo(outcome.line())
    return outcomes


def verdict(outcomes: list[Outcome], ready_for: str) -> tuple[bool, str]:
    """(ready, the verdict line): ready when nothing failed or was skipped for a failure."""
    counts = {s: [o.name for o in outcomes if o.status == s and not o.blocked] for s in STATUSES}
    total = sum(o.seconds for o in outcomes)
    bad = [o.name for o in outcomes if o.bad]
    if bad:
        return False, (f"verdict: NOT ready for {ready_for}: {len(bad)} of {len(outcomes)} checks failed or could not "
                       f"run ({', '.join(bad)}); {total:.0f} s")
    extra = [f"warnings: {', '.join(counts['warn'])}"] if counts["warn"] else []
    extra += [f"skipped: {', '.join(counts['skip'])}"] if counts["skip"] else []
    passed = len(counts["pass"]) + len(counts["warn"])
    return True, (f"verdict: ready for {ready_for}: {passed} of {len(outcomes)} checks passed"
                  + (f" ({'; '.join(extra)})" if extra else "") + f"; {total:.0f} s")
