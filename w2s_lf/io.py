"""File I/O at the edges: JSONL/JSON readers that locate errors, atomic writers, hashes.

Every writer goes through a temporary file in the target folder and `os.replace`, so a crash
never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from w2s_lf.errors import InputError, W2SError

T = TypeVar("T")


def _umask() -> int:
    """The process umask, read without changing it (Linux reports it in /proc; elsewhere it can
    only be read by setting it, for an instant)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line; every record must be an object."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    with path.open("r", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(f"malformed JSON ({e.msg} at column {e.colno})", path, number) from None
            if not isinstance(record, dict):
                raise InputError("expected a JSON object", path, number)
            yield number, record


def read_jsonl(path: str | Path, required: Iterable[str] = (), allow_empty: bool = False) -> list[dict]:
    """Read a JSONL file, checking that each record has the ``required`` fields."""
    required = tuple(required)
    records = []
    for number, record in iter_jsonl(path):
        for field in required:
            if field not in record:
                raise InputError("missing", path, number, field)
        records.append(record)
    if not records and not allow_empty:
        raise InputError("file is empty", path)
    return records


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON ({e.msg})", path, e.lineno) from None


def load_yaml_as(path: str | Path, parse: Callable[[Any], T], what: str) -> T:
    """`parse(yaml.safe_load(file))`, with every error prefixed by the file's path; `what`
    names the file in "not found" (recipe, jobs file)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise W2SError(f"{path}: {what} not found")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise W2SError(f"{path}: not valid YAML: {e}") from None
    try:
        return parse(data)
    except W2SError as e:
        raise W2SError(f"{path}: {e}") from None


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w"):
    """Open a temporary sibling of ``path`` for writing; rename it over ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_umask())   # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as f:
        f.write(text)


def dumps_jsonl(records: Iterable[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in records)


def write_jsonl(path: str | Path, records: Iterable[dict]) -> None:
    write_text(path, dumps_jsonl(records))


def write_json(path: str | Path, obj: Any, indent: int = 4) -> None:
    """JSON as LLaMA-Factory's and the paper's files are written: ASCII, indent 4, no final newline."""
    write_text(path, json.dumps(obj, indent=indent))


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def sha256_json(obj: Any) -> str:
    """A stable hash of a JSON-able value (sorted keys), for config and manifest keys."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def holder() -> str:
    """Who takes a lock: host, pid and start time, for the message of whoever finds it held."""
    import datetime
    import socket
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"host {socket.gethostname()}, pid {os.getpid()}, since {started}"


@contextlib.contextmanager
def locked(lock_path: str | Path, what: str, wait: bool = False):
    """Hold an exclusive `flock` on `lock_path` while the block runs; the file names its holder.

    The one lock scheme of w2s-lf: a run folder (one controller), a generation output (one
    writer), a built-in model's build (one builder). The kernel drops the lock when its process
    dies, SIGKILL included, so a lock is never stale on one machine; on a shared file system
    (NFS) the server drops a dead client's lock when its lease expires. The holder removes the
    file before it lets go; a taker checks that the file it locked is still the one at the path
    (else it locked a removed file and tries again), so two can never both hold it. Held by
    someone else: wait for it (`wait`), or raise a W2SError naming `what`, the holder and what to do."""
    import fcntl

    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        f = lock_path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            f.seek(0)
            who = f.read().strip() or "another process"
            f.close()
            raise W2SError(f"{what} is in use ({who}; lock {lock_path}); wait for it to finish. If that "
                           "process is gone (a host that crashed holding the lock on a shared file system), "
                           "the file server releases the lock when its lease expires") from None
        try:
            same = os.stat(lock_path).st_ino == os.fstat(f.fileno()).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        f.close()
    try:
        f.seek(0)
        f.truncate()
        f.write(holder() + "\n")
        f.flush()
        yield
    finally:
        lock_path.unlink(missing_ok=True)   # ours: we hold it
        f.close()
