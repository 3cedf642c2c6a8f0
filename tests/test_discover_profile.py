"""Onboarding: `pixelproof discover` writes a draft profile `run` accepts, claiming what the endpoint
serves (every surface and model of the reference gateway; the vendor surfaces of the bare vendor
mock), within its image budget; `pixelproof profile` gives the JSON Schema and the field reference."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import jsonschema
import pytest
import yaml

from conftest import pixelproof_inprocess
from pixelproof.catalogue import Catalogue
from pixelproof.cli.profile import profile_reference
from pixelproof.mock.server import Stack, embedded_stack
from pixelproof.target import embedded_profile, load_profile

REPO = Path(__file__).resolve().parents[1]
KEY_ENV = "PP_DISCOVER_KEY"
KEY = "pp-discover-key-0123456789"
VENDOR_SURFACES = {"openai", "xai", "ark", "jimeng-visual", "gemini-vendor"}


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with embedded_stack(time_scale=1000, api_key=KEY) as running:
        yield running


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``pixelproof ARGS`` in this process (the key's variable set for the call); the console entry
    point is covered by test_cli_rules and test_run_cli."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv(KEY_ENV, KEY)
        done = pixelproof_inprocess(*args)
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def discovered(tmp_path: Path, url: str, budget: int) -> Path:
    out = tmp_path / "discovered.yaml"
    cli("discover", url, "--key-env", KEY_ENV, "--budget", str(budget), "-o", str(out))
    return out


def test_discovering_the_reference_gateway_claims_every_surface_and_model(
    tmp_path: Path, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    path = discovered(tmp_path, stack.gateway.url, budget=40)
    profile = load_profile(path, catalogue)
    reference = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    served = {s: sorted(reference.models(s)) for s in reference.surfaces
              if catalogue.surfaces[s].role == "gateway"}  # fmt: skip
    assert {s: sorted(profile.models(s)) for s in profile.surfaces} == served
    assert {s: profile.base_url(s) for s in profile.surfaces} == {
        s: reference.base_url(s) for s in served
    }
    assert profile.level == "unified-gateway"
    run = cli("run", "--target", str(path), "--rules", "n.default.omitted", "--fuzz", "off",
              "--report-dir", str(tmp_path), "--run-id", "r")  # fmt: skip
    data = json.loads((tmp_path / "r" / "run.json").read_text())
    assert data["counts"]["passed"] >= 12, run.stdout[-1000:]


def test_discovering_the_bare_vendor_mock_proposes_the_vendor_surfaces(
    tmp_path: Path, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    profile = load_profile(discovered(tmp_path, stack.upstream.url, budget=40), catalogue)
    assert set(profile.surfaces) == VENDOR_SURFACES
    assert {s: profile.level_of(s, catalogue) for s in profile.surfaces} == {
        s: s for s in VENDOR_SURFACES
    }
    assert profile.models("openai") == ["gpt-image-2", "gpt-image-1", "dall-e-2", "dall-e-3"]


def test_discovery_buys_no_more_images_than_its_budget(tmp_path: Path, stack: Stack) -> None:
    since = httpx.get(f"{stack.upstream.url}/__pixelproof/requests", params={"limit": 1}).json()[
        "last_seq"
    ]
    text = discovered(tmp_path, stack.upstream.url, budget=3).read_text()
    seen = httpx.get(f"{stack.upstream.url}/__pixelproof/requests",
                     params={"since": since, "contains": "pixelproof discover"}).json()["requests"]  # fmt: skip
    assert len(seen) == 3  # route probes carry no prompt; each generation does
    assert "untried (budget ran out)" in text
    assert "3 image(s) bought" in text


def test_an_endpoint_that_is_not_there_confirms_nothing(tmp_path: Path) -> None:
    done = cli("discover", "http://127.0.0.1:9", "--budget", "2", "--timeout", "2", check=False)
    assert done.returncode == 3
    assert "0 model(s) confirmed" in done.stderr
    assert "nothing confirmed" in done.stdout or "no surface confirmed" in done.stdout


def test_a_missing_key_variable_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PP_DISCOVER_UNSET", raising=False)
    done = pixelproof_inprocess("discover", "http://127.0.0.1:9", "--key-env", "PP_DISCOVER_UNSET")
    assert done.returncode == 2
    assert "PP_DISCOVER_UNSET is not set" in done.stderr


# ---------------------------------------------------------------- pixelproof profile


@pytest.fixture(scope="module")
def schema() -> dict[str, object]:
    return dict(json.loads(cli("profile", "--schema").stdout))


@pytest.mark.parametrize(
    "path",
    [
        *sorted((REPO / "fixtures" / "targets").glob("*.yaml")),
        REPO / "examples" / "litellm" / "target.yaml",
    ],
    ids=lambda p: p.name,
)
def test_the_schema_accepts_the_shipped_profiles(schema: dict[str, object], path: Path) -> None:
    # as an editor sees it: YAML dates are the strings they are written as
    data = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
    jsonschema.Draft202012Validator(schema).validate(data)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"level": "gold"}, "level"),
        ({"surfaces": {"unifed": {"base_url": "http://127.0.0.1:1", "models": ["x"]}}}, "surfaces"),
        (
            {
                "surfaces": {
                    "unified": {"base_url": "http://127.0.0.1:1", "models": ["x"], "level": "gold"}
                }
            },
            "level",
        ),
        ({"colour": "red"}, "colour"),
    ],
)
def test_the_schema_rejects_what_load_profile_rejects(
    schema: dict[str, object], change: dict[str, object], where: str
) -> None:
    data = {
        "surfaces": {"unified": {"base_url": "http://127.0.0.1:1", "models": ["gpt-image-2"]}},
        **change,
    }
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert errors
    assert any(where in (str(e.path) + e.message) for e in errors), [e.message for e in errors]


def test_the_field_reference_in_docs_is_the_generated_one() -> None:
    assert (REPO / "docs" / "profile.md").read_text(encoding="utf-8") == profile_reference(), (
        "docs/profile.md is stale: pixelproof profile --reference > docs/profile.md"
    )


def test_profile_check_prints_the_level_of_each_surface(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({"level": "openai-images", "surfaces": {
        "unified": {"base_url": "http://127.0.0.1:1", "models": ["dall-e-3"]},
        "ark": {"base_url": "http://127.0.0.1:1", "models": ["doubao-seedream-4-0-250828"]}}}))  # fmt: skip
    out = cli("profile", "--check", str(path)).stdout
    assert "unified: level openai-images" in out
    assert "ark: level ark" in out
    path.write_text(
        yaml.safe_dump(
            {
                "level": "gold",
                "surfaces": {"unified": {"base_url": "http://127.0.0.1:1", "models": ["dall-e-3"]}},
            }
        )
    )
    bad = cli("profile", "--check", str(path), check=False)
    assert bad.returncode == 2
    assert "level: unknown level 'gold'" in bad.stderr


def test_discovery_confirms_gemini_models_that_answer_image_urls(
    tmp_path: Path, stack: Stack, catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 000's Gemini output is "inlineData or URL": a gateway answering URLs (fileData parts,
    tests/foreign_gateway.py) serves those models as much as one answering inline images."""
    from foreign_gateway import foreign_gateway, url_of

    monkeypatch.setenv(KEY_ENV, KEY)
    reference = embedded_profile(catalogue, stack.gateway.url, stack.upstream.url, KEY_ENV, 1000)
    with foreign_gateway(stack.gateway.url, gemini_urls="served") as proxy:
        profile = load_profile(discovered(tmp_path, url_of(proxy), budget=40), catalogue)
    assert proxy.files  # the answers discovery read carried URLs, not inline images
    assert sorted(profile.models("gemini")) == sorted(reference.models("gemini"))
