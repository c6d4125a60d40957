"""Resolve a lock file against the package index by metadata only, to check it or to compile it.

    python scripts/resolve_lock.py check requirements/gpu-lock.txt      # exit 1 unless exact and clean
    python scripts/resolve_lock.py check requirements/gpu-lock.txt --resolver pip   # pip's own resolver
    python scripts/resolve_lock.py compile requirements/gpu.in -o requirements/gpu-lock.txt

`check` resolves every pin of the lock WITH dependencies for the lock's target machine (Linux
x86_64, CPython 3.11, glibc >= 2.31 for `--target gpu`, 2.28 for `cpu`), downloading metadata only,
and fails unless the resolver picks exactly the locked versions, needs nothing else and finds no
conflict. That proves the lock complete and consistent, which matters because setup.sh installs it
with --no-deps: no resolver runs there, so nothing else would notice a missing or clashing pin.

Resolvers: `uv` (default; a pinned release fetched from PyPI as a wheel, ~5 s for the GPU lock) or
`pip` (a pinned newer pip run from its wheel, ~80 s: the index here serves no separate metadata
files, so pip reads each wheel's METADATA with range requests, one package at a time). Both were
seen to agree on the GPU lock. `compile` writes the full pin list of a .in file's top-level
requirements, with the .in file's header comments on top. Exit code 2: index unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

UV_VERSION = "0.13.8"
PIP_VERSION = "26.3"
PYTHON_VERSION = "3.11"
# Oldest glibc the lock must install on: vllm 0.19.1 ships manylinux_2_31 wheels only (Ubuntu
# 20.04, RHEL 9 and newer); the CPU lock's newest requirement is torch's manylinux_2_28.
GLIBC = {"gpu": 31, "cpu": 28}
# Source-only releases: pip cannot use a source archive when resolving for another platform, so
# its pip check gets a metadata-only wheel with the dependencies pip reads from the real archive.
SOURCE_ONLY = ("deepspeed",)
# Where machines of this project's kind keep the torch 2.13.0+cpu wheel (the pip config's find-links).
CPU_WHEELS = Path("/opt/wheels")
UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|Network is unreachable|Max retries exceeded|ProxyError|Could not fetch URL|ConnectTimeout"
    r"|ReadTimeoutError|No route to host|Name or service not known|error sending request"
    r"|dns error|Connection refused|Failed to fetch|operation timed out")


class IndexUnreachable(RuntimeError):
    """The package index could not be reached; the caller decides whether that skips or fails."""


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock: Path) -> dict[str, str]:
    """`name==version` lines of a lock (comments and blank lines ignored), keyed by canonical name."""
    pins: dict[str, str] = {}
    for number, line in enumerate(lock.read_text().splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;]+)", line)
        if not match:
            raise ValueError(f"{lock}:{number}: not an exact pin (name==version): {line!r}")
        name = canonical(match.group(1))
        if name in pins:
            raise ValueError(f"{lock}:{number}: {match.group(1)} is pinned twice")
        pins[name] = match.group(3)
    return pins


def _run(command: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0 and UNREACHABLE.search(proc.stdout + proc.stderr):
        raise IndexUnreachable(_tail(proc))
    return proc


def _tail(proc: subprocess.CompletedProcess, lines: int = 25) -> str:
    text = [line for line in (proc.stdout + proc.stderr).splitlines()
            if not line.startswith("WARNING: Location")]     # this machine's mirror config is noisy
    return "\n".join(text[-lines:])


def _fetch_wheel(project: str, version: str, work: Path) -> Path:
    """Download one pinned wheel with this interpreter's pip (which uses the machine's pip config)."""
    proc = _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "download",
                 "--no-deps", "--only-binary=:all:", "-q", "-d", str(work), f"{project}=={version}"])
    wheel = next(work.glob(f"{project}-{version}-*.whl"), None)
    if proc.returncode != 0 or wheel is None:
        raise RuntimeError(f"could not fetch {project} {version}:\n{_tail(proc)}")
    return wheel


def _uv(work: Path) -> str:
    """The pinned uv binary, extracted once into the user's cache (kept: later checks reuse it)."""
    tools = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "w2s-lf" / "tools"
    binary = tools / f"uv-{UV_VERSION}" / "uv"
    if not binary.exists():
        with zipfile.ZipFile(_fetch_wheel("uv", UV_VERSION, work)) as whl:
            extracted = Path(whl.extract(f"uv-{UV_VERSION}.data/scripts/uv", work / "uv"))
        extracted.chmod(0o755)
        binary.parent.mkdir(parents=True, exist_ok=True)
        tmp = binary.with_name(f"uv.{os.getpid()}.tmp")
        shutil.copyfile(extracted, tmp)
        tmp.chmod(0o755)
        tmp.replace(binary)
    return str(binary)


def _resolve_uv(requirements: Path, work: Path, target: str, overrides: Path | None) -> dict:
    command = [_uv(work), "pip", "compile", str(requirements), "--quiet", "--no-header",
               "--no-annotate", "--python-version", PYTHON_VERSION,
               "--python-platform", f"x86_64-manylinux_2_{GLIBC[target]}",
               "-o", str(work / "resolved.txt")]
    if target == "cpu" and CPU_WHEELS.is_dir():
        command += ["--find-links", str(CPU_WHEELS)]
    if overrides:
        command += ["--overrides", str(overrides)]
    proc = _run(command)
    if proc.returncode != 0:
        raise RuntimeError(f"uv could not resolve the requirements:\n{_tail(proc)}")
    return read_pins(work / "resolved.txt")


def _platform_args(glibc_minor: int) -> list[str]:
    tags = [f"manylinux_2_{minor}_x86_64" for minor in range(glibc_minor, 4, -1)]
    tags += ["manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64", "linux_x86_64"]
    args = ["--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp"]
    for abi in ("cp311", "abi3", "none"):
        args += ["--abi", abi]
    for tag in tags:
        args += ["--platform", tag]
    return args


def _source_standin(pip: list[str], name: str, version: str, links: Path) -> None:
    """A metadata-only wheel for a source-only release, with the dependencies that pip itself
    computes from the real archive (a no-deps dry run prepares its metadata; nothing is built)."""
    report = links / f"{name}.json"
    proc = _run(pip + ["install", "--dry-run", "--no-deps", "--ignore-installed", "--quiet",
                       "--report", str(report), f"{name}=={version}"])
    if proc.returncode != 0 or not report.exists():
        raise RuntimeError(f"could not read the metadata of {name} {version}:\n{_tail(proc)}")
    requires = json.loads(report.read_text())["install"][0]["metadata"].get("requires_dist", [])
    dist = f"{name}-{version}.dist-info"
    with zipfile.ZipFile(links / f"{name}-{version}-py3-none-any.whl", "w") as whl:
        whl.writestr(f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                     + "".join(f"Requires-Dist: {r}\n" for r in requires))
        whl.writestr(f"{dist}/WHEEL", "Wheel-Version: 1.0\nGenerator: resolve_lock\n"
                     "Root-Is-Purelib: true\nTag: py3-none-any\n")
        whl.writestr(f"{dist}/RECORD", "")


def _resolve_pip(requirements: Path, work: Path, target: str, overrides: Path | None) -> dict:
    if overrides:
        raise ValueError("overrides need --resolver uv (pip has no equivalent)")
    pip = [sys.executable, str(_fetch_wheel("pip", PIP_VERSION, work) / "pip"),
           "--disable-pip-version-check"]
    links = work / "links"
    links.mkdir()
    for name, version in read_pins(requirements).items():
        if name in SOURCE_ONLY:
            _source_standin(pip, name, version, links)
    report = work / "report.json"
    # fast-deps reads each wheel's METADATA with HTTP range requests: the index here serves no
    # separate metadata files, and without it pip downloads every wheel (~5 GB for the GPU lock).
    proc = _run(pip + ["install", "--dry-run", "--ignore-installed", "--quiet", "--report",
                       str(report), "--use-feature=fast-deps", "--find-links", str(links),
                       "-r", str(requirements)] + _platform_args(GLIBC[target]))
    errors = [line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("ERROR")]
    if proc.returncode != 0 or errors or not report.exists():
        raise RuntimeError(f"pip could not resolve the requirements:\n{_tail(proc)}")
    return {canonical(i["metadata"]["name"]): i["metadata"]["version"]
            for i in json.loads(report.read_text())["install"]}


def resolve(requirements: list[str], target: str = "gpu", resolver: str = "uv",
            overrides: list[str] = ()) -> dict[str, str]:
    """What the resolver picks, with dependencies, for `requirements` on the target machine.

    Returns {canonical name: version}. `overrides` (uv only) replace every requirement on those
    packages, for locks that knowingly break a package's declared pins. Raises RuntimeError with
    the resolver's own words on a conflict, IndexUnreachable when the index cannot be reached.
    """
    with tempfile.TemporaryDirectory(prefix="resolve-lock-") as tmp:
        work = Path(tmp)
        source = work / "requirements.txt"
        source.write_text("\n".join(requirements) + "\n")
        override_file = None
        if overrides:
            override_file = work / "overrides.txt"
            override_file.write_text("\n".join(overrides) + "\n")
        run = _resolve_uv if resolver == "uv" else _resolve_pip
        return run(source, work, target, override_file)


def check(lock: Path, target: str = "gpu", resolver: str = "uv", overrides: list[str] = (),
          absent: tuple[str, ...] = ()) -> list[str]:
    """Differences between the lock and the resolution of its pins (empty: exact and complete).

    `absent` names packages the lock deliberately leaves out although something requires them.
    """
    pins = read_pins(lock)
    picked = resolve([f"{name}=={version}" for name, version in pins.items()], target, resolver,
                     overrides)
    problems = [f"{name}: locked {version}, resolver picks {picked.get(name, 'nothing')}"
                for name, version in pins.items() if picked.get(name) != version]
    problems += [f"{name}=={version} is needed but not in the lock"
                 for name, version in picked.items() if name not in pins and name not in absent]
    return problems


def compile_lock(source: Path, output: Path, target: str, resolver: str) -> None:
    """Resolve a .in file and write the full pin list under the .in file's header comments."""
    lines = source.read_text().splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    requirements = [line.split("#", 1)[0].strip() for line in lines]
    picked = resolve([r for r in requirements if r], target, resolver)
    body = [f"{name}=={version}" for name, version in sorted(picked.items())]
    note = (f"# Compiled from {source.name} by `python scripts/resolve_lock.py compile` "
            f"({resolver}); {len(body)} packages.")
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text("\n".join(header + [note, ""] + body) + "\n")
    tmp.replace(output)
    print(f"wrote {output}: {len(body)} packages")


def main(argv: list[str] | None = None) -> int:
    intro, _, rest = __doc__.partition("\n\n")
    parser = argparse.ArgumentParser(description=intro, epilog=rest,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    check_p = sub.add_parser("check", help="exit 1 unless the lock resolves exactly and cleanly")
    check_p.add_argument("lock", type=Path)
    compile_p = sub.add_parser("compile", help="write a lock from a .in file of top-level pins")
    compile_p.add_argument("source", type=Path)
    compile_p.add_argument("-o", "--output", type=Path, required=True)
    for p in (check_p, compile_p):
        p.add_argument("--target", choices=sorted(GLIBC), default="gpu",
                       help="machine the lock is for (gpu: glibc 2.31 wheels, cpu: 2.28)")
        p.add_argument("--resolver", choices=("uv", "pip"), default="uv")
    args = parser.parse_args(argv)
    try:
        if args.command == "compile":
            compile_lock(args.source, args.output, args.target, args.resolver)
            return 0
        problems = check(args.lock, args.target, args.resolver)
    except IndexUnreachable as exc:
        print(f"package index unreachable:\n{exc}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 1
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{args.lock}: " + (f"{len(problems)} problems" if problems else "exact and complete"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
