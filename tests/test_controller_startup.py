"""What `pixelproof run`'s own process loads that it never uses: the mock's web stack (the stack
serves from a child process) and Pillow's plugins for formats nothing here reads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pixelproof.mock.stack_process import SWITCH_INTERVAL_S, several_senders

STACK = """
import sys
import httpx
from pixelproof.mock.stack_process import stack_process
with stack_process() as stack:
    status = httpx.get(stack.gateway.url + "/__pixelproof/health").status_code
web = sorted(m for m in ("uvicorn", "starlette", "pixelproof.mock.app", "pixelproof.mock.server")
             if m in sys.modules)
print(status, ",".join(web) or "-")
"""

WEBP = """
import sys
from pixelproof.geometry import Size
from pixelproof.images import RenderSpec, decode, render
image = decode(render(RenderSpec(Size(96, 64), "webp", transparent=True, shade=3)))
plugins = sorted(m.split(".")[1] for m in sys.modules if m.startswith("PIL.") and m.endswith("ImagePlugin"))
print(image.format, image.size.width, image.size.height, image.transparent_pixels, ",".join(plugins))
"""


def _run(code: str, cwd: Path | None = None) -> list[str]:
    """``code`` run as the ``pixelproof`` console script runs (``-P``: its directory, not the
    working one, is first on the path)."""
    done = subprocess.run([sys.executable, "-P", "-c", code], capture_output=True, text=True,
                          check=True, cwd=cwd)  # fmt: skip
    return done.stdout.split()


def test_starting_the_stack_process_loads_no_web_server_in_the_parent(tmp_path: Path) -> None:
    """From a directory holding a file named like a module of the standard library (a user's
    ``http.py``), which the stack child once imported instead (``python -c`` puts the working
    directory first): uvicorn then failed to import, and the run ended in an INTERNALERROR."""
    (tmp_path / "http.py").write_text("raise SystemExit('the working directory shadowed http')\n")
    status, web = _run(STACK, cwd=tmp_path)
    assert status == "200"  # the child serves
    assert web == "-"


def test_a_webp_is_written_and_read_without_loading_every_pillow_plugin() -> None:
    fmt, width, height, transparent, plugins = _run(WEBP)
    assert (fmt, width, height, transparent) == ("webp", "96", "64", "True")
    assert set(plugins.split(",")) <= {
        "BmpImagePlugin", "GifImagePlugin", "JpegImagePlugin", "PpmImagePlugin",
        "PngImagePlugin", "WebPImagePlugin",
    }  # fmt: skip


CHILD = """
import sys
from pixelproof.mock.stack_process import BOOT
exec(BOOT.split("from pixelproof")[0])  # what the child runs before main: the collector off
import gc
assert not gc.isenabled()
from pixelproof.mock.stack_process import main
main(sys.argv[1:])  # serves until its stdin (closed here) ends
harness = sorted(m for m in ("pixelproof.plan", "pixelproof.target", "pixelproof.samples") if m in sys.modules)
print(gc.isenabled(), gc.get_freeze_count() > 1000, ",".join(harness) or "-", sys.getswitchinterval())
"""


def test_the_stack_child_collects_again_once_started_and_loads_no_harness_planning() -> None:
    """... and, told several processes send to it, hands the GIL between its two servers'
    threads at a short interval (a gateway's hop upstream waited up to 5 ms while the other
    thread ran; test_perf_paths: ``stack_process(parallel=True)`` tells it)."""
    interval = ["--switch-interval", str(SWITCH_INTERVAL_S)]
    done = subprocess.run([sys.executable, "-c", CHILD, *interval], capture_output=True,
                          text=True, check=True, stdin=subprocess.DEVNULL)  # fmt: skip
    urls, state = done.stdout.splitlines()
    assert '"gateway": "http://127.0.0.1:' in urls
    *collected, switch = state.split()
    assert collected == ["True", "True", "-"]
    assert float(switch) <= 0.001  # Python's default is 0.005


@pytest.mark.parametrize(
    ("workers", "several"),
    [(None, False), ("1", False), (1, False), ("2", True), (2, True), ("0", False), ("x", False),
     ("auto", len(os.sched_getaffinity(0)) > 1), ("logical", len(os.sched_getaffinity(0)) > 1)],
)  # fmt: skip
def test_only_a_run_with_several_workers_shortens_the_stack_switch_interval(
    workers: object, several: bool
) -> None:
    """A serial run is one sender: the short interval only cost it (fuzz full ~+0.8 CPU-s)."""
    assert several_senders(workers) is several
