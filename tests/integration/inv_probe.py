# SPDX-License-Identifier: MIT
"""Run tests/tools/inv-probe (the remote inventory sources without a daemon) and read its JSON.

(PYTEST_DONT_REWRITE: a helper module, imported by test modules.)
"""
import json
import subprocess

from conftest import BUILD, SANITIZER_MARKERS

PROBE = BUILD / "tests" / "tools" / "inv-probe"


def probe(*args, timeout=120):
    """Run `inv-probe ARGS`; returns (exit code, parsed JSON output). Fails the test on a
    sanitizer report or an exit code other than 0 (rows) and 1 (an error object)."""
    assert PROBE.exists(), f"{PROBE} is not built (subdir('tests/tools') in meson.build)"
    p = subprocess.run([str(PROBE), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout)
    for marker in SANITIZER_MARKERS:
        assert marker not in p.stderr, p.stderr
    assert p.returncode in (0, 1), f"exit {p.returncode}: {p.stderr}"
    return p.returncode, json.loads(p.stdout)
