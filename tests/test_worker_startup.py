"""What an xdist worker of `pixelproof run -n N` pays before its first test: planning the fuzz
targets (every worker collects them) reads the contracts but loads no fuzzing library; the one
worker that fuzzes loads them when it starts, the others never do (schedule.py's lanes)."""

from __future__ import annotations

import subprocess
import sys

PLAN = """
import sys
from pixelproof.catalogue import default_catalogue
from pixelproof.fuzz.targets import plan_targets
from pixelproof.target import embedded_profile
catalogue = default_catalogue()
profile = embedded_profile(catalogue, "http://127.0.0.1:9", "http://127.0.0.1:9", "K", 1000.0)
targets = plan_targets(catalogue, profile, "full", 400)
loaded = sorted(m for m in ("schemathesis", "hypothesis") if m in sys.modules)
print(len(targets), sum(t.allowance for t in targets), ",".join(loaded) or "-")
"""


def test_planning_fuzz_targets_loads_neither_schemathesis_nor_hypothesis() -> None:
    out = subprocess.run([sys.executable, "-c", PLAN], capture_output=True, text=True, check=True)
    planned, allowance, loaded = out.stdout.split()
    assert int(planned) > 10  # every surface's operations and modes, as a run plans them
    assert int(allowance) == 400
    assert loaded == "-"


def test_loading_a_surface_for_fuzzing_still_loads_schemathesis() -> None:
    from pixelproof.catalogue import default_catalogue
    from pixelproof.fuzz.contracts import load_surface
    from pixelproof.target import embedded_profile

    catalogue = default_catalogue()
    profile = embedded_profile(catalogue, "http://127.0.0.1:9", "http://127.0.0.1:9", "K", 1.0)
    schemas = load_surface(catalogue, profile, "unified")
    assert "POST /v1/images/generations" in schemas.operations()
    assert type(schemas.negative).__module__.startswith("schemathesis.")
