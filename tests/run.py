#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""run.py - the hstrace test runner (`make test`).

  /usr/bin/python3 tests/run.py [-t NAME]... [--timeout SEC]

Runs every unit test binary build/test_* (cmocka, TAP output) and every function test_* of
every tests/integration/test_*.py module. Test names are unit:<binary>:<test> and
integ:<module>:<function>; -t NAME (repeatable) keeps the tests whose name contains NAME.

Each integration test runs in its own process group with a timeout; afterwards the whole
group is killed, so no hstrace or peer process outlives its test, and the test's registered
cleanups (temporary files, mounts) run even when it fails. Passing tests print one line,
failing ones their captured log. The last line is "N passed, N failed"; the exit status is 0
only when nothing failed and something passed.
"""

import argparse
import ast
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
INTEG = ROOT / "tests" / "integration"
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

TAP_RESULT = re.compile(r"^(not ok|ok)\s+(\d+)(?:\s+-\s+(.*?))?\s*(?:#.*)?$")
TAP_PLAN = re.compile(r"^1\.\.(\d+)")


class Tally:
    def __init__(self, filters):
        self.filters = filters
        self.passed = 0
        self.failed = []

    def wanted(self, name):
        return not self.filters or any(f in name for f in self.filters)

    def ok(self, name, secs=None):
        self.passed += 1
        print("PASS %s%s" % (name, "" if secs is None else " (%.1fs)" % secs), flush=True)

    def fail(self, name, log="", secs=None):
        self.failed.append(name)
        print("FAIL %s%s" % (name, "" if secs is None else " (%.1fs)" % secs), flush=True)
        for line in log.rstrip().splitlines():
            print("    " + line)
        sys.stdout.flush()


# ---------------------------------------------------------------------------------------------
# unit tests (cmocka)

def unit_binaries():
    if not BUILD.is_dir():
        return []
    out = []
    for p in sorted(BUILD.glob("test_*")):
        if p.is_file() and os.access(p, os.X_OK) and p.suffix not in (".o", ".d"):
            out.append(p)
    return out


def run_unit(tally, binary, timeout):
    base = "unit:%s" % binary.name
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="TAP")
    t0 = time.monotonic()
    try:
        cp = subprocess.run([str(binary)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env=env, timeout=timeout, cwd=ROOT)
        text, rc = cp.stdout.decode(errors="replace"), cp.returncode
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode(errors="replace")
        rc = None
    secs = time.monotonic() - t0

    lines = text.splitlines()
    planned, seen, any_failed = 0, 0, False
    for i, line in enumerate(lines):
        m = TAP_PLAN.match(line)
        if m:
            planned += int(m.group(1))
            continue
        m = TAP_RESULT.match(line)
        if not m:
            continue
        seen += 1
        name = "%s:%s" % (base, (m.group(3) or "#" + m.group(2)).strip())
        if m.group(1) == "ok":
            if tally.wanted(name):
                tally.ok(name)
        else:
            any_failed = True
            if tally.wanted(name):
                diag = []
                for nxt in lines[i + 1:]:
                    if TAP_RESULT.match(nxt) or TAP_PLAN.match(nxt):
                        break
                    diag.append(nxt)
                tally.fail(name, "\n".join(diag))

    problem = None
    if rc is None:
        problem = "timed out after %gs" % timeout
    elif rc < 0:
        problem = "killed by signal %d" % -rc
    elif seen == 0:
        problem = "printed no TAP results (status %d)" % rc
    elif seen < planned:
        problem = "planned %d tests but reported %d (status %d)" % (planned, seen, rc)
    elif rc != 0 and not any_failed:
        problem = "exited with status %d without a failing test" % rc
    # A broken binary may hide any of its tests, so it counts unless every filter names
    # other tests (integ:..., or unit:<another binary>...).
    relevant = not tally.filters or any(
        f in base or f.startswith(base + ":") or not f.startswith(("integ", "unit:"))
        for f in tally.filters)
    if problem and relevant:
        tally.fail(base, "%s: %s\n%s" % (binary, problem, text), secs)


def unit_may_match(filters):
    # Test names inside a binary are known only after running it, so run the binaries unless
    # every filter names integration tests.
    return not filters or not all(f.startswith("integ") for f in filters)


# ---------------------------------------------------------------------------------------------
# integration tests

def integ_tests():
    """[(name, module, function)] in file order; [(name, None, error)] for broken modules."""
    out = []
    for path in sorted(INTEG.glob("test_*.py")):
        mod = path.stem
        try:
            tree = ast.parse(path.read_text(), str(path))
        except SyntaxError as e:
            out.append(("integ:%s" % mod, None, "cannot parse %s: %s" % (path, e)))
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                out.append(("integ:%s:%s" % (mod, node.name), mod, node.name))
    return out


def kill_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def run_integ(tally, name, mod, func, timeout):
    if os.geteuid() != 0:
        tally.fail(name, "integration tests need root: they run build/hstrace, which loads BPF "
                   "programs. Run as root (e.g. `sudo make test`).")
        return
    with tempfile.TemporaryFile() as logf:
        t0 = time.monotonic()
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([PYTHON, str(Path(__file__).resolve()), "--child", mod, func],
                                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                                cwd=ROOT, env=env, start_new_session=True)
        timed_out = False
        try:
            rc = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(proc.pid, signal.SIGTERM)  # the child runs its cleanups
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                pass
            rc = None
        except KeyboardInterrupt:
            kill_group(proc.pid, signal.SIGTERM)
            time.sleep(2)
            kill_group(proc.pid, signal.SIGKILL)
            raise
        finally:
            # Whatever the test left behind in its process group (hstrace, peers) dies here.
            kill_group(proc.pid, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait()
        secs = time.monotonic() - t0
        logf.seek(0)
        log = logf.read().decode(errors="replace")
    if timed_out:
        tally.fail(name, log + "\ntimed out after %gs" % timeout, secs)
    elif rc != 0:
        tally.fail(name, log, secs)
    else:
        tally.ok(name, secs)


def child_main(mod, func):
    """Runs one integration test function (inside the test's own process group)."""
    sys.path.insert(0, str(INTEG))
    import traceback

    def on_term(signum, frame):
        raise KeyboardInterrupt("terminated by the runner (timeout)")

    signal.signal(signal.SIGTERM, on_term)
    harness = None
    rc = 1
    try:
        import harness
        import importlib
        m = importlib.import_module(mod)
        getattr(m, func)()
        rc = 0
    except BaseException:
        traceback.print_exc()
    finally:
        if harness is not None:
            harness.cleanup_all()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


# ---------------------------------------------------------------------------------------------

def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        child_main(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser(description="Run hstrace's unit and integration tests.")
    ap.add_argument("-t", dest="filters", action="append", default=[], metavar="NAME",
                    help="run only tests whose name contains NAME (repeatable)")
    ap.add_argument("--timeout", type=float, default=120.0,
                    help="seconds per integration test / unit binary (default 120)")
    a = ap.parse_args()
    tally = Tally(a.filters)

    if unit_may_match(a.filters):
        bins = unit_binaries()
        if not bins:
            print("note: no unit test binaries build/test_* (build them with make test)")
        for b in bins:
            run_unit(tally, b, a.timeout)

    for name, mod, func in integ_tests():
        if not tally.wanted(name):
            continue
        if mod is None:
            tally.fail(name, func)
            continue
        run_integ(tally, name, mod, func, a.timeout)

    if tally.failed:
        print("failed: " + " ".join(tally.failed))
    print("%d passed, %d failed" % (tally.passed, len(tally.failed)))
    return 0 if not tally.failed and tally.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
