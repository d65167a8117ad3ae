"""Second half of scripts/mutation: re-check mutmut's survivors in fresh processes, report.

mutmut runs each mutant in a worker forked from a process that has already imported the
package and run the tests once, so module-level caches (``functools.cache`` on
``load_provider``, values computed at import) keep the unmutated results and a mutant that
only acts through them survives although the tests would catch it. Every survivor is
therefore applied to a private copy of the source tree and the module's tests run again with
a new interpreter (no bytecode cache: a mutant can have the size of the original, and a
``.pyc`` written in the same second would be taken for it).

Arguments: the work directories prepared by scripts/mutation, each with its own copy of
src/, tests/ and pyproject.toml, mutmut's mutants/ directory and mutation-target.json
({"module": ..., "tests": [...]}).
Output: per module the mutants reached, killed, survived and the score, the survivors not in
the equivalents file (with their diffs); exit 1 when a module scores below --min-score.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from mutmut.configuration import reset_config
from mutmut.mutation.data import SourceFileMutationData
from mutmut.mutation.diff_apply import (
    find_top_level_function_or_method,
    get_diff_for_mutant,
    read_functions_from_index,
    read_mutant_function,
    read_mutants_module,
    read_orig_module,
)
from mutmut.stats import status_by_exit_code
from mutmut.utils.format_utils import orig_function_and_class_names_from_key

NOT_REACHED = {"no tests", "skipped", "not checked", "caught by type check"}
KILLED = {"killed", "timeout"}  # as mutmut counts them (a mutant that hangs the tests is caught)
# everything else that was reached (survived, suspicious, segfault, interrupted) is re-checked


# ------------------------------------------------------------------ known equivalent mutants


@dataclass
class Equivalent:
    module: str
    function: str
    title: str
    changes: tuple[str, ...]
    matched: list[str] = field(default_factory=list)


def changed_lines(diff: str) -> tuple[str, ...]:
    """The -/+ lines of a unified diff, whitespace collapsed: what identifies a mutant across
    runs (mutmut's mutant numbers change whenever the function changes)."""
    out = []
    for line in diff.splitlines():
        if line.startswith(("---", "+++")) or not line.startswith(("-", "+")):
            continue
        out.append(line[0] + " ".join(line[1:].split()))
    return tuple(out)


def load_equivalents(path: Path) -> list[Equivalent]:
    """Entries of the equivalents file: under a ``## <source path>`` heading, each
    ``### `function` <title>`` heading followed by a ```diff block of the mutant's -/+ lines."""
    entries: list[Equivalent] = []
    if not path.exists():
        return entries
    module = function = title = ""
    in_diff = False
    diff: list[str] = []
    for line in path.read_text("utf-8").splitlines():
        if in_diff:
            if line.startswith("```"):
                in_diff = False
                if module and function:
                    entries.append(Equivalent(module, function, title, changed_lines("\n".join(diff))))
            else:
                diff.append(line)
        elif line.startswith("## "):
            module, function = line[3:].strip().strip("`"), ""
        elif line.startswith("### "):
            head = line[4:].strip()
            function = head.split("`")[1] if head.count("`") >= 2 else head.split()[0]
            title = head
        elif line.startswith("```diff"):
            in_diff, diff = True, []
    return entries


# ------------------------------------------------------------------ mutants


def function_name(mutant: str) -> str:
    func, cls = orig_function_and_class_names_from_key(mutant)
    return f"{cls}.{func}" if cls else func


def mutated_source(mutant: str, path: str) -> str:
    """The source file with the mutant applied (mutmut's ``apply``, written nowhere)."""
    name = orig_function_and_class_names_from_key(mutant)[0]
    orig_module = read_orig_module(path)
    original = find_top_level_function_or_method(orig_module, name)
    if original is None:
        raise LookupError(f"function {name} not found in {path}")
    functions = read_functions_from_index(mutant, path)
    mutant_fn = functions[1] if functions else read_mutant_function(read_mutants_module(path), mutant)
    code = orig_module.deep_replace(original, mutant_fn.with_changes(name=cst.Name(name))).code
    compile(code, path, "exec")  # a broken file would fail the tests: a false kill
    if code == orig_module.code:
        raise ValueError(f"{mutant}: applying it changes nothing in {path}")
    return code


@dataclass
class Outcome:
    verdict: str  # survived | killed | timeout
    seconds: float
    output: str = ""


class FreshRunner:
    """Runs the module's tests with a new interpreter in private copies of the work
    directory, one per parallel job."""

    def __init__(self, work: Path, module: str, tests: list[str], jobs: int) -> None:
        self.module = module
        self.tests = tests
        self.dirs: queue.Queue[Path] = queue.Queue()
        base = work / "recheck"
        shutil.rmtree(base, ignore_errors=True)
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for i in range(jobs):
            d = base / f"w{i}"
            for part in ("src", "tests"):
                shutil.copytree(work / part, d / part, ignore=ignore)
            shutil.copy2(work / "pyproject.toml", d / "pyproject.toml")
            self.dirs.put(d)
        self.original = (work / module).read_text("utf-8")
        self.timeout = 120.0

    def env(self, d: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MUTANT_UNDER_TEST", "MUTMUT", "PYTEST_"))}
        env["PYTHONPATH"] = str((d / "src").resolve())  # ahead of the editable install's path
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        # Only the plugins unit tests use: the others (schemathesis, anyio...) would triple the
        # start-up time of every run. A test needing one fails the clean run below: no false kill.
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        return env

    def check_setup(self) -> Outcome:
        """The copy is what gets imported, and the unmutated tests pass there."""
        d = self.dirs.get()
        try:
            mod = self.module.removeprefix("src/").removesuffix(".py").replace("/", ".")
            probe = subprocess.run([sys.executable, "-c", f"import {mod} as m; print(m.__file__)"],
                                   cwd=d, env=self.env(d), capture_output=True, text=True)
            where = Path(probe.stdout.strip() or "?").resolve()
            if where != (d / self.module).resolve():
                raise SystemExit(f"re-check: {mod} imports from {where}, not from the copy in {d}\n{probe.stderr}")
        finally:
            self.dirs.put(d)
        clean = self.run(None)
        self.timeout = max(60.0, 20 * clean.seconds)
        return clean

    def run(self, source: str | None) -> Outcome:
        d = self.dirs.get()
        target = d / self.module
        try:
            if source is not None:
                target.write_text(source, "utf-8")
            cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-p", "_hypothesis_pytestplugin",
                   "--tb=short", *self.tests]
            t0 = time.monotonic()
            proc = subprocess.Popen(cmd, cwd=d, env=self.env(d), stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
            try:
                out, _ = proc.communicate(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, _ = proc.communicate()
                return Outcome("timeout", time.monotonic() - t0, out)
            seconds = time.monotonic() - t0
            if proc.returncode in (4, 5):  # usage error, nothing collected: the set-up is wrong
                raise SystemExit(f"re-check: pytest exit {proc.returncode} in {d}: {' '.join(cmd)}\n{out}")
            return Outcome("survived" if proc.returncode == 0 else "killed", seconds, out)
        finally:
            if source is not None:
                target.write_text(self.original, "utf-8")
            self.dirs.put(d)


# ------------------------------------------------------------------ one module


@dataclass
class Report:
    module: str
    tests: list[str]
    total: int = 0
    reached: int = 0
    killed_by_mutmut: int = 0
    timeouts: int = 0
    killed_on_recheck: int = 0
    survivors: list[tuple[str, str]] = field(default_factory=list)  # (mutant, diff)
    equivalent: list[tuple[str, Equivalent]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    stale: list[Equivalent] = field(default_factory=list)

    @property
    def killed(self) -> int:
        return self.killed_by_mutmut + self.killed_on_recheck

    @property
    def score(self) -> float:
        return 100.0 * self.killed / self.reached if self.reached else 0.0


def check_module(work: Path, equivalents: list[Equivalent], jobs: int) -> Report:
    target = json.loads((work / "mutation-target.json").read_text())
    rep = Report(target["module"], target["tests"])
    here = os.getcwd()
    os.chdir(work)  # mutmut's helpers read pyproject.toml and mutants/ from the working directory
    reset_config()
    try:
        data = SourceFileMutationData(path=rep.module)
        data.load()
        statuses = {k: status_by_exit_code[v] for k, v in data.exit_code_by_key.items()}
        if not statuses:
            raise SystemExit(f"re-check: no mutmut results for {rep.module} in {work}")
        rep.total = len(statuses)
        to_check = []
        for mutant, status in sorted(statuses.items()):
            if status in NOT_REACHED:
                continue
            rep.reached += 1
            if status in KILLED:
                rep.killed_by_mutmut += 1
                rep.timeouts += status == "timeout"
            else:
                to_check.append(mutant)
        prepared = [(m, mutated_source(m, rep.module), get_diff_for_mutant(m, path=rep.module)) for m in to_check]
    finally:
        os.chdir(here)
        reset_config()

    if prepared:
        runner = FreshRunner(work, rep.module, rep.tests, max(1, min(jobs, len(prepared))))
        clean = runner.check_setup()
        if clean.verdict != "survived":
            raise SystemExit(f"re-check: the unmutated tests fail in a fresh process ({rep.module}):\n{clean.output}")
        with ThreadPoolExecutor(max_workers=runner.dirs.qsize()) as pool:
            outcomes = list(pool.map(lambda p: runner.run(p[1]), prepared))
        for (mutant, _, diff), outcome in zip(prepared, outcomes):
            if outcome.verdict == "survived":
                rep.survivors.append((mutant, diff))
            else:
                rep.killed_on_recheck += 1
        # keep the mutant and its fresh-process verdict next to mutmut's own results
        (work / "recheck.json").write_text(json.dumps(
            {m: {"verdict": o.verdict, "seconds": round(o.seconds, 2)} for (m, _, _), o in zip(prepared, outcomes)},
            indent=2))

    mine = [e for e in equivalents if e.module == rep.module]
    for mutant, diff in rep.survivors:
        key = (function_name(mutant), changed_lines(diff))
        match = next((e for e in mine if (e.function, e.changes) == key), None)
        if match:
            match.matched.append(mutant)
            rep.equivalent.append((mutant, match))
        else:
            rep.unknown.append((mutant, diff))
    rep.stale = [e for e in mine if not e.matched]
    return rep


def print_report(rep: Report, min_score: float, equivalents_file: str) -> None:
    print(f"\n== {rep.module}  (tests: {' '.join(rep.tests)})")
    print(f"   mutants {rep.total}, reached by the tests {rep.reached} (not reached {rep.total - rep.reached})")
    print(f"   killed {rep.killed}: {rep.killed_by_mutmut} by mutmut"
          f"{f' (of which {rep.timeouts} timeouts)' if rep.timeouts else ''}"
          f", {rep.killed_on_recheck} more when re-checked in a fresh process")
    print(f"   survived {len(rep.survivors)} (known equivalent {len(rep.equivalent)})")
    eq_reached = rep.reached - len(rep.equivalent)
    without = f"; {100.0 * rep.killed / eq_reached:.1f}% without the known equivalents" if rep.equivalent and eq_reached else ""
    verdict = "OK" if rep.score >= min_score else f"BELOW {min_score:g}%"
    print(f"   score {rep.score:.1f}% of reached mutants killed ({rep.killed}/{rep.reached}) {verdict}{without}")
    for mutant, e in rep.equivalent:
        print(f"   equivalent: {mutant}  {e.title}")
    for e in rep.stale:
        print(f"   listed in {equivalents_file} but not surviving (remove it?): {e.title}")
    if rep.unknown:
        print(f"   survivors not in {equivalents_file}:")
        for mutant, diff in rep.unknown:
            print(f"   -- {mutant}")
            for line in diff.splitlines()[2:]:
                print(f"      {line}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("workdirs", nargs="+", type=Path)
    ap.add_argument("--equivalents", default="tests/mutation-equivalents.md")
    ap.add_argument("--min-score", type=float, default=90.0)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    equivalents = load_equivalents(Path(args.equivalents))
    reports = []
    for work in args.workdirs:
        t0 = time.monotonic()
        rep = check_module(work, equivalents, args.jobs)
        print_report(rep, args.min_score, args.equivalents)
        print(f"   (re-check {time.monotonic() - t0:.0f} s)")
        reports.append(rep)

    print(f"\n{'module':<48} {'reached':>7} {'killed':>6} {'survived':>8} {'unlisted':>8} {'score':>7}")
    for r in reports:
        print(f"{r.module:<48} {r.reached:>7} {r.killed:>6} {len(r.survivors):>8} {len(r.unknown):>8} "
              f"{r.score:>6.1f}% {'OK' if r.score >= args.min_score else 'BELOW'}")
    summary = [{"module": r.module, "tests": r.tests, "mutants": r.total, "reached": r.reached,
                "killed": r.killed, "killed_on_recheck": r.killed_on_recheck, "timeouts": r.timeouts,
                "survived": [m for m, _ in r.survivors], "equivalent": [m for m, _ in r.equivalent],
                "score": round(r.score, 2)} for r in reports]
    Path(".mutation").mkdir(exist_ok=True)
    Path(".mutation/summary.json").write_text(json.dumps(summary, indent=2))
    low = [r.module for r in reports if r.score < args.min_score]
    if low:
        print(f"\nbelow {args.min_score:g}%: {', '.join(low)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
