"""File I/O at the edges: JSONL/JSON readers that locate errors, atomic writers, hashes.

Every writer goes through a temporary file in the target folder and `os.replace`, so a crash
never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

from w2s_lf.errors import InputError, W2SError
from w2s_lf.schema import shown

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


def _not_utf8(path: Path, data: bytes, error: UnicodeDecodeError, first_line: int = 1) -> InputError:
    """The error for bytes of `path` that are not UTF-8: the line and column of the first bad byte."""
    line = first_line + data.count(b"\n", 0, error.start)
    column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
    return InputError(f"not UTF-8 (byte 0x{data[error.start]:02x} at column {column}); "
                      "save the file as UTF-8", path, line)


def read_text(path: str | Path, what: str = "file") -> str:
    """A text file's content as UTF-8; a missing file or a bad byte is an InputError naming the
    file (and the line). Every input file w2s-lf reads goes through here or `iter_jsonl`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} not found", path)
    data = path.read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, data, e) from None


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, record)`` for each non-blank line; every record must be an object."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise _not_utf8(path, raw, e, number) from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (ValueError, RecursionError) as e:   # also: a number too long, nesting too deep
                where = f" at column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
                raise InputError(f"malformed JSON ({getattr(e, 'msg', e)}{where})", path, number) from None
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
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"malformed JSON ({e.msg})", path, e.lineno) from None
    except (ValueError, RecursionError) as e:   # a number too long, nesting too deep
        raise InputError(f"malformed JSON ({e})", path) from None


def parse_yaml(text: str, where: str) -> Any:
    """`yaml.safe_load(text)`, any failure one W2SError line: `where:line: not valid YAML: why`
    (a bad date, an integer of 5,000 digits and a nesting too deep are failures too)."""
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = f":{mark.line + 1}" if mark else ""
        raise W2SError(f"{where}{line}: not valid YAML: {e.problem or e.context}") from None
    except (yaml.YAMLError, ValueError, RecursionError) as e:
        why = "nested too deeply" if isinstance(e, RecursionError) else str(e).splitlines()[0]
        raise W2SError(f"{where}: not valid YAML: {why}") from None


def load_yaml_as(path: str | Path, parse: Callable[[Any], T], what: str) -> T:
    """`parse(yaml.safe_load(file))`, with every error prefixed by the file's path; `what`
    names the file in "not found" (recipe, jobs file)."""
    path = Path(path)
    data = parse_yaml(read_text(path, what), str(path))
    try:
        return parse(data)
    except W2SError as e:
        raise W2SError(f"{path}: {e}") from None


def is_dir(path: str | Path) -> bool:
    """`Path(path).expanduser().is_dir()`, False for a path no file system could hold (too long,
    a NUL byte, an unknown `~user`) instead of an exception."""
    try:
        return Path(path).expanduser().is_dir()
    except (OSError, ValueError, RuntimeError):
        return False


NAME = re.compile(r"\w[\w.+-]*")


def check_name(name: Any, what: str) -> str:
    """`name` if it can only name one file or folder inside another (a run, a dataset): letters,
    digits, `_`, `.`, `+`, `-`, no leading `.` or `-`, no `..`; never a path."""
    if not isinstance(name, str) or not NAME.fullmatch(name) or ".." in name:
        raise W2SError(f"{what}: {shown(name)} is not a name (letters, digits, '_', '.', '+', '-'; not a path)")
    return name


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
