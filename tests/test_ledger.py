"""One image budget for a run on several processes (ledger.py): forks and unrelated processes
racing to buy never buy past it, and only the process that made the count removes its file.
(The whole runs, serial, forked and xdist, buying against `--budget`: test_lanes.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pixelproof.ledger import Ledger

BUY = """
import os, sys, time
from pixelproof.ledger import Ledger
ledger, bought = Ledger(sys.argv[1]), 0
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):  # all start together
    time.sleep(0.001)
for _ in range(2000):
    if ledger.spend(1, 3000) is None:
        bought += 1
print(bought)
"""


def test_a_local_ledger_stops_at_the_budget_and_says_what_was_bought() -> None:
    ledger = Ledger()
    assert ledger.spend(4, 10) is None
    assert ledger.spend(4, 10) is None
    assert ledger.spend(4, 10) == 8  # would be 12: nothing spent
    assert ledger.spend(2, 10) is None
    assert ledger.spend(1, 10) == 10


def test_processes_racing_on_one_shared_ledger_buy_the_budget_and_no_more(tmp_path: Path) -> None:
    ledger, go = Ledger.shared(), tmp_path / "go"
    try:
        racers = [
            subprocess.Popen(
                [sys.executable, "-c", BUY, str(ledger.path), str(go)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline() == "ready\n"
        go.touch()
        bought = [int(r.communicate(timeout=60)[0]) for r in racers]
        assert sum(bought) == 3000, bought  # 3 x 2000 tries on a budget of 3000, at once
        assert ledger.spend(1, 3000) == 3000
    finally:
        ledger.close()
    assert ledger.path is not None
    assert not Path(ledger.path).exists()


def test_a_fork_shares_the_count_and_leaves_the_file_to_its_maker() -> None:
    ledger = Ledger.shared()
    try:
        pid = os.fork()
        if pid == 0:  # the child: buys 3, then closes its copy (as a lane worker would)
            code = 0 if ledger.spend(3, 5) is None else 1
            ledger.close()
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert ledger.path is not None
        assert Path(ledger.path).exists()
        assert ledger.spend(3, 5) == 3  # the child's 3 count here
    finally:
        ledger.close()
