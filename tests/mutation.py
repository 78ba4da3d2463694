"""Mutation testing, one module at a time against its own tests: the score and the surviving mutants.

    .venv/bin/pip install mutmut
    .venv/bin/python tests/mutation.py sorakit/audio/mix.py [more modules...] [--children 2]
    .venv/bin/python tests/mutation.py --all
    .venv/bin/python tests/mutation.py sorakit/generate.py --again [--tests tests/test_generate.py]
    .venv/bin/python tests/mutation.py sorakit/report/judging.py --sample 300   # a random 300 of its mutants
    .venv/bin/python tests/mutation.py sorakit/backends/_runtime.py --minutes 60   # a part of a long run

mutmut runs, for every mutant, the tests that cover the mutated function. Run over the whole
package at once (``[tool.mutmut]`` in pyproject.toml), a mutant in the mixer also runs every
storyboard film that mixes sound, and the run takes about a day on two cores. Here each module
is mutated in a copy of the working tree whose ``[tool.mutmut]`` names that module and only the
test files that are about it (``TESTS``), so a mutant costs its unit tests. Results go to
``mutation-results/<module>.json`` (killed, survived, timed out, the score, and each survivor's
diff), mutmut's own output to ``<module>.log`` beside it, and a line per module is printed.

Threads are pinned to one (``OMP_NUM_THREADS=1`` and friends): mutmut forks a child per mutant
from a process that has run torch and OpenCV, and a thread pool inherited across a fork can
deadlock the child, which mutmut would count as a timeout. For the same reason ``SORAKIT_MUTATION``
tells the root ``conftest.py`` to give tqdm's bars a lock of each process's own: its default one is a
semaphore all the children share, and a child stopped while holding it would hang every later one.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

# The test files that are about each module: what its mutants are run against.
TESTS: dict[str, list[str]] = {
    "sorakit/audio/mix.py": ["tests/audio/test_mix.py"],
    "sorakit/audio/soundtrack.py": ["tests/audio/test_soundtrack.py", "tests/backends/test_lip_sync.py"],
    "sorakit/audio/speech.py": ["tests/audio/test_speech.py", "tests/backends/test_lip_sync.py"],
    "sorakit/guidance/warp.py": ["tests/test_warp.py"],
    "sorakit/guidance/ttm.py": ["tests/backends/test_ttm.py"],
    "sorakit/backends/_ttm.py": ["tests/backends/test_ttm.py"],
    "sorakit/backends/_runtime.py": ["tests/backends/test_runtime_parts.py", "tests/backends/test_runtime.py",
                                     "tests/backends/test_inputs.py", "tests/backends/test_speed.py",
                                     "tests/backends/test_ttm.py"],
    "sorakit/backends/_loras.py": ["tests/backends/test_speed.py"],
    "sorakit/backends/contract.py": ["tests/backends/test_conditioning.py", "tests/backends/test_inputs.py",
                                     "tests/backends/test_behaviour.py"],
    "sorakit/backends/wan.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                "tests/backends/test_behaviour.py"],
    "sorakit/backends/ltx.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                "tests/backends/test_tiny_ltx.py", "tests/backends/test_behaviour.py"],
    "sorakit/backends/ltx2.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                 "tests/backends/test_tiny_ltx2.py", "tests/backends/test_lip_sync.py",
                                 "tests/backends/test_behaviour.py"],
    "sorakit/backends/cogvideox.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                      "tests/backends/test_tiny_cogvideox.py", "tests/backends/test_behaviour.py"],
    "sorakit/backends/hunyuan15.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                      "tests/backends/test_tiny_hunyuan15.py", "tests/backends/test_behaviour.py"],
    "sorakit/generate.py": ["tests/test_generate.py", "tests/backends/test_inputs.py", "tests/test_clip.py",
                            "tests/backends/test_lip_sync.py", "tests/backends/test_families.py",
                            "tests/backends/test_speed.py", "tests/audio/test_soundtrack.py"],
    "sorakit/report/__init__.py": ["tests/test_report.py", "tests/test_report_faults.py"],
    "sorakit/report/tracking.py": ["tests/test_report_tracking.py", "tests/test_report.py",
                                   "tests/test_report_faults.py"],
    "sorakit/report/fitting.py": ["tests/test_report.py", "tests/test_report_fitting.py"],
    "sorakit/report/judging.py": ["tests/test_report_judging.py", "tests/test_report.py",
                                  "tests/test_report_faults.py"],
    "sorakit/storyboard.py": ["tests/test_storyboard_parts.py", "tests/test_storyboard.py", "tests/test_farm.py",
                              "tests/backends/test_lip_sync.py"],
    "sorakit/guidance/controls.py": ["tests/backends/test_cosmos.py"],
    "sorakit/backends/_guardrail.py": ["tests/backends/test_guardrail.py", "tests/backends/test_cosmos.py"],
    "sorakit/backends/cosmos.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                   "tests/backends/test_cosmos.py", "tests/backends/test_behaviour.py"],
    "sorakit/backends/cosmos3.py": ["tests/backends/test_inputs.py", "tests/backends/test_family_rules.py",
                                    "tests/backends/test_cosmos.py", "tests/backends/test_behaviour.py"],
    "sorakit/clip.py": ["tests/test_clip.py", "tests/test_saves.py"],
    "sorakit/best.py": ["tests/test_best.py"],
}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "TOKENIZERS_PARALLELISM": "false"}


def _config(module: str, tests: list[str]) -> str:
    quoted = ", ".join(f'"{t}"' for t in tests)
    return (f'\n[tool.mutmut]\nsource_paths = ["sorakit"]\nonly_mutate = ["{module}"]\n'
            'also_copy = ["assets/", "conftest.py"]\n'
            f"pytest_add_cli_args_test_selection = [{quoted}]\n"
            'pytest_add_cli_args = ["-p", "no:cacheprovider", "-k", "not sigkill and not ctrl_c"]\n'
            "mutate_only_covered_lines = true\n"
            # A mutant is stopped after multiplier * (its tests' time + 1 s) of wall clock (twice that of CPU): 5 times
            # what its tests take unmutated, not mutmut's 15 (44 hung mutants of the runtime's run each waited out
            # 15 times). A wall clock: run nothing else beside it, or sound mutants time out and count as killed.
            "timeout_multiplier = 5.0\n")


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % interval for a share of ``k`` in ``n`` drawn at random (Wilson's score interval)."""
    p, zz = k / n, z * z / n
    middle, half = (p + zz / 2) / (1 + zz), z * math.sqrt(p * (1 - p) / n + zz / (4 * n)) / (1 + zz)
    return middle - half, middle + half


def run(module: str, children: int, out: Path, tests: list[str] | None = None, again: bool = False,
        minutes: float | None = None, sample: int | None = None, seed: int = 0) -> dict[str, object]:
    """Mutates ``module`` in a copy of the working tree against ``tests`` (``TESTS[module]`` by default)
    and returns its results.

    ``again``: only the survivors of the last run on record are run, against its test files as they are now
    (mutmut names each mutant by its function and number, so the module's source must be the one that
    run mutated: its sha256 is checked). Tests only ever added kill more, never fewer: the mutants
    killed before stay killed, and the score is the same a whole new run would give. With ``tests``
    naming only the test files changed since, it is quicker and still the same: a file that did not
    change cannot kill a mutant it let survive.

    But mutmut mutates only the lines the selected tests cover and numbers a function's mutants in
    order over those lines: tests that cover other lines of the module than that run's did (a new
    test reaching a new line, or ``tests`` covering fewer) renumber the mutants, and a survivor's
    name then means another mutant. Such a run is refused after it ran (its mutant count differs from
    the record's) and nothing is written: run the module whole.

    ``minutes``: mutmut is stopped (as Ctrl-C stops it) after that long, and the record says how many
    mutants did not run (``not_run``); its score is of those that did, a figure for that part only.

    ``sample``: that many of the module's mutants, drawn at random (``seed``), are run, for a module
    whose whole run takes hours on two cores. The score is the sample's, and ``interval`` the 95 %
    range the whole module's score lies in. ``again`` then reruns the sample's survivors.
    """
    record = out / (module.replace("/", ".") + ".json")
    source = hashlib.sha256((ROOT / module).read_bytes()).hexdigest()
    before: dict[str, Any] = json.loads(record.read_text()) if again and record.exists() else {}
    tests = tests or before.get("tests") or TESTS[module]  # again: the tests that run was made against
    if again:
        if not before:
            raise SystemExit(f"{module}: no earlier run in {record} to take the survivors of")
        if before.get("source_sha256", source) != source:
            raise SystemExit(f"{module} changed since its last run: run it whole, without --again")
        if not before["survivors"]:
            return before
    work = Path(tempfile.mkdtemp(prefix="sorakit-mutation-"))
    try:
        for name in ("sorakit", "tests", "assets", "notebooks", "README.md", "conftest.py"):
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, work / name, ignore=shutil.ignore_patterns("__pycache__"))
            elif src.exists():
                shutil.copy2(src, work / name)
        text = (ROOT / "pyproject.toml").read_text()
        head, _, after = text.partition("\n[tool.mutmut]")
        rest = after.split("\n[", 1)[1] if "\n[" in after else ""  # the sections after mutmut's own
        (work / "pyproject.toml").write_text(head + _config(module, tests) + ("\n[" + rest if rest else ""))
        env = {**os.environ, **ONE_THREAD, "SORAKIT_MUTATION": "1"}  # see conftest.py: no lock shared by the children
        mutmut = str(Path(sys.executable).parent / "mutmut")
        out.mkdir(parents=True, exist_ok=True)
        log = out / (module.replace("/", ".") + ".log")
        meta = work / "mutants" / f"{module}.meta"
        asked = sorted(before.get("survivors", ()))
        with open(log, "w") as sink:  # mutmut's own output, for a run that went wrong
            if sample and not again:  # a run that asks for no mutant: it makes them all, then stops
                subprocess.run([mutmut, "run", "--max-children", str(children), "no such mutant"], cwd=work, env=env,
                               stdout=sink, stderr=subprocess.STDOUT, check=False)
                every = sorted(json.loads(meta.read_text())["exit_code_by_key"])
                asked = sorted(random.Random(seed).sample(every, min(sample, len(every))))
            mutating = subprocess.Popen([mutmut, "run", "--max-children", str(children), *asked],
                                        cwd=work, env=env, stdout=sink, stderr=subprocess.STDOUT)
            try:
                mutating.wait(timeout=minutes * 60 if minutes else None)
            except subprocess.TimeoutExpired:  # stopped as Ctrl-C would: mutmut saves what it has run
                mutating.send_signal(signal.SIGINT)
                mutating.wait()
        codes = json.loads(meta.read_text())["exit_code_by_key"] if meta.exists() else {}
        not_run = sum(codes.get(k) is None for k in (asked or codes))
        if again and not_run:
            raise SystemExit(f"{module}: stopped after {minutes} minutes with {not_run} survivors not run again: "
                             "nothing written")
        if again and len(codes) != before["mutants"]:
            raise SystemExit(f"{module}: the tests now cover other lines than the last run's ({len(codes)} mutants, "
                             f"not {before['mutants']}), so mutmut's names mean other mutants: run it whole, "
                             "without --again")
        total = len(codes)
        if sample and not again:
            codes = {k: codes[k] for k in asked}
        if again:  # the earlier run's killed and timed-out mutants, as they were; a survivor that no
            # test named here covers (mutmut's 33, "no tests") or that did not run still survives
            codes = {**{f"killed {i}": 1 for i in range(before["killed"])},
                     **{f"timed out {i}": 36 for i in range(before["timeouts"])},
                     **{f"unlisted {i}": 0 for i in range(before.get("unlisted_survivors", 0))},
                     **{k: 0 if codes.get(k) in (None, 33, 34) else codes[k] for k in before["survivors"]}}
        killed = [k for k, v in codes.items() if v not in (0, None, 33, 34, 36, -24, 152)]
        survived = sorted(k for k, v in codes.items() if v == 0)
        timeouts = [k for k, v in codes.items() if v in (36, -24, 152)]
        diffs = {}
        for name in survived:
            if name.startswith("unlisted "):  # a survivor whose diff an earlier run did not keep
                continue
            shown = subprocess.run([mutmut, "show", name], cwd=work, env=env, capture_output=True, text=True)
            diffs[name] = "\n".join(line for line in shown.stdout.splitlines() if line.startswith(("-", "+"))
                                    and not line.startswith(("---", "+++")))
        done = len(killed) + len(survived) + len(timeouts)
        result: dict[str, object] = {
            "module": module, "source_sha256": source, "mutants": total, "killed": len(killed),
            "tests": list(dict.fromkeys([*before.get("tests", []), *tests])),
            "survived": len(survived), "timeouts": len(timeouts),
            "score": round(100 * (len(killed) + len(timeouts)) / done, 1) if done else None,
            "survivors": diffs,
        }
        if len(diffs) < len(survived):
            result["unlisted_survivors"] = len(survived) - len(diffs)
        if not_run:  # a run stopped at --minutes: the score is of the mutants that ran, not the module's
            result["not_run"] = not_run
        if "sampled" in before or (sample and not again):
            result["sampled"] = before.get("sampled", len(asked))
            result["seed"] = before.get("seed", seed)
        if "sampled" in result and done:  # the module's score lies here with 95 % confidence (Wilson's interval)
            result["interval"] = [round(100 * x, 1) for x in _wilson(len(killed) + len(timeouts), done)]
        out.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(result, indent=2))
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"any of: {', '.join(TESTS)}")
    parser.add_argument("--all", action="store_true", help="every module in TESTS")
    parser.add_argument("--children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--out", default=str(ROOT / "mutation-results"))
    parser.add_argument("--again", action="store_true", help="run only the last run's survivors, against the "
                        "tests as they are now (the module itself unchanged)")
    parser.add_argument("--sample", type=int, help="run this many of each module's mutants, drawn at random: "
                        "the score with its 95%% interval, for a module too slow to run whole")
    parser.add_argument("--seed", type=int, default=0, help="the draw of --sample")
    parser.add_argument("--minutes", type=float, help="stop each module's run after this long; the record "
                        "counts the mutants that did not run (not_run) and scores those that did")
    parser.add_argument("--tests", nargs="+", help="test files to run instead of the module's own (a quicker, "
                        "lower bound on the score; one module only)")
    args = parser.parse_args()
    modules = list(TESTS) if args.all else args.modules
    unknown = [m for m in modules if m not in TESTS]
    if not modules or unknown:
        parser.error(f"name modules from: {', '.join(TESTS)}" + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    if args.tests and len(modules) != 1:
        parser.error("--tests goes with one module")
    for module in modules:
        r = run(module, args.children, Path(args.out), args.tests, args.again, args.minutes, args.sample, args.seed)
        unrun = f" ({r['not_run']} not run: stopped at {args.minutes:g} minutes)" if r.get("not_run") else ""
        drawn = f" (a sample of {r['sampled']}, seed {r['seed']})" if "sampled" in r else ""
        interval: Any = r.get("interval")
        within = f", the module's within {interval[0]}-{interval[1]}%" if interval else ""
        print(f"{module}: {r['killed']} killed, {r['survived']} survived, {r['timeouts']} timed out of "
              f"{r['mutants']}{drawn}{unrun} -> score {r['score']}%{within}", flush=True)


if __name__ == "__main__":
    main()
