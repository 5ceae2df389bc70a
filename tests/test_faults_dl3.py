"""Fault injection: damaged DL3 files and data stores, named with their real cause.

Real H.E.S.S. DR1 files damaged the ways files get damaged (cut short by a
transfer, emptied, overwritten, a flipped bit, an HDU missing) and data stores
whose index tables are missing or garbage. `check` reports each as a FAIL with
the cause and goes on; `quicklook` says the cause in one line (a truncated file
is "truncated", not "has no IRF"), goes on past a bad run in a batch, leaves no
half-made ``obs_*`` folder, and exits 1 when any run failed.
"""

from __future__ import annotations

import json

import pytest

from tests.faultkit import (
    assert_one_line,
    cli,
    damage,
    hess_file,
    store_copy,
    tree,
)

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0280"),
    pytest.mark.verifies_requirement("C-SAT-0286"),
]

RUN = 23526
# How a file is damaged -> what its cause must be called (check, quicklook).
DAMAGE = {
    "truncated": "Compressed file ended before the end-of-stream marker",
    "empty": "Empty or corrupt FITS file",
    "garbage": "",  # not gzip: check and quicklook word it differently, below
    "gzip-garbage": "",
    "bitflip": "",
    "fits-truncated": "",
    "no-events": "",
    "no-aeff": "",
}
CHECK_CAUSE = {
    **DAMAGE,
    "garbage": "No SIMPLE card found",
    "gzip-garbage": "Empty or corrupt FITS file",
    "bitflip": "cannot read",
    "fits-truncated": "truncated: 566784 bytes is not a whole number of 2880-byte",
    "no-events": "no EVENTS HDU",
    "no-aeff": "no AEFF HDU (IRFs in another file?",
}
QUICKLOOK_CAUSE = {
    **DAMAGE,
    "garbage": "Not a gzipped file",
    "gzip-garbage": "No SIMPLE card found",
    "bitflip": "CRC check failed",
    "fits-truncated": "File may have been truncated",
    "no-events": "Extension 'EVENTS' not found",
    "no-aeff": "has no aeff IRF: a quick look needs them",
}


@pytest.fixture
def damaged(tmp_path, gammapy_data, request):
    """Run RUN's file, damaged as the test's ``how`` parameter says."""
    how = request.node.callspec.params["how"]
    path = tmp_path / "dl3" / hess_file(gammapy_data, RUN).name
    path.parent.mkdir()
    damage(path, how, hess_file(gammapy_data, RUN))
    return path


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_check_names_the_damage(damaged, how):
    outcome = cli("check", damaged, "-q")
    assert outcome.code == 1 and outcome.exception is None, outcome.stdout
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert outcome.stderr == ""  # no warning of astropy's or Gammapy's
    verdict, *findings, total = outcome.stdout.strip().splitlines()
    assert verdict.startswith("FAIL") and str(damaged) in verdict
    assert total == "1 observations: 0 PASS, 0 WARN, 1 FAIL"
    failures = [line for line in findings if line.strip().startswith("FAIL")]
    assert failures and CHECK_CAUSE[how] in failures[0], findings


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_quicklook_names_the_damage(damaged, tmp_path, how):
    output = tmp_path / "ql"
    outcome = cli("quicklook", damaged, "--output", output, "-q")
    assert_one_line(outcome, 1, QUICKLOOK_CAUSE[how])
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dl3"]


@pytest.fixture
def store(tmp_path, gammapy_data):
    """A data store of the 4 Crab runs of H.E.S.S. DR1 (files linked)."""
    return store_copy(gammapy_data, tmp_path / "store")


@pytest.mark.parametrize("how", ["truncated", "missing", "empty", "no-events"])
def test_check_of_a_store_goes_on_past_a_bad_run(store, gammapy_data, how):
    damage(
        store / "data" / hess_file(gammapy_data, RUN).name,
        how,
        hess_file(gammapy_data, RUN),
    )
    outcome = cli("check", store, "--json")
    assert outcome.code == 1 and outcome.exception is None
    report = json.loads(outcome.stdout)
    verdicts = {o["obs_id"]: o["verdict"] for o in report["observations"]}
    assert len(verdicts) == 4 and verdicts[RUN] == "FAIL"
    assert [obs for obs, verdict in verdicts.items() if verdict == "FAIL"] == [RUN]
    (bad,) = [o for o in report["observations"] if o["obs_id"] == RUN]
    reasons = " ".join(f["reason"] for f in bad["findings"])
    expected = {
        "missing": "does not exist",
        "no-events": "Extension 'events' not found",  # the hdu-index lists it
    }
    assert expected.get(how, "cannot read") in reasons


@pytest.mark.parametrize(
    "index, how, cause",
    [
        ("obs-index.fits.gz", "missing", "has no obs-index.fits.gz"),
        ("hdu-index.fits.gz", "missing", "has no obs-index.fits.gz / hdu-index"),
        ("obs-index.fits.gz", "garbage", "obs-index.fits.gz: No SIMPLE card found"),
        ("hdu-index.fits.gz", "garbage", "hdu-index.fits.gz: No SIMPLE card found"),
    ],
)
def test_check_of_a_store_with_a_damaged_index(store, index, how, cause):
    path = store / index
    path.unlink()
    if how == "garbage":
        path.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 8)
    outcome = cli("check", store, "-q")
    assert outcome.code == 1 and outcome.exception is None
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert cause in outcome.stdout, outcome.stdout
    assert "The available formats are" not in outcome.stdout


def test_check_goes_on_past_a_path_that_does_not_exist(tmp_path, gammapy_data):
    good = hess_file(gammapy_data, 23523)
    outcome = cli("check", tmp_path / "nope.fits", good, "-q")
    assert outcome.code == 1 and outcome.exception is None
    assert "does not exist" in outcome.stdout
    assert "obs 23523" in outcome.stdout and "2 observations" in outcome.stdout


def test_quicklook_batch_goes_on_past_bad_runs(store, gammapy_data, tmp_path):
    """One good run, a truncated one and one without IRFs: one quick look."""
    for obs_id, how in ((23526, "truncated"), (23559, "no-aeff")):
        path = store / "data" / hess_file(gammapy_data, obs_id).name
        damage(path, how, hess_file(gammapy_data, obs_id))
    output = tmp_path / "ql"
    outcome = cli(
        "quicklook", store, "--output", output, "-q",
        "--obs-id", 23523, "--obs-id", 23526, "--obs-id", 23559,
    )  # fmt: skip
    line = assert_one_line(outcome, 1, "2 of 3 runs failed (listed above)")
    assert f"the others' products are in {output}" in line
    failed = [n for n in outcome.stderr.splitlines() if n.startswith("FAILED")]
    assert len(failed) == 2
    assert "obs 23526" in failed[0] and "end-of-stream marker" in failed[0]
    # Through the data store the IRFs are named by the hdu-index: the real cause.
    assert "obs 23559" in failed[1] and "AEFF" in failed[1].upper()
    assert "obs 23523: ON" in outcome.stdout
    # No half-made folder; the summary lists the failures with their cause.
    assert sorted(p.name for p in output.iterdir()) == [
        "obs_023523",
        "result.json",
        "summary.json",
    ]
    summary = json.loads((output / "summary.json").read_text())
    assert [entry.get("error") is None for entry in summary] == [True, False, False]
    # The result says it too: its check of the runs looked at fails.
    (looked_at,) = json.loads((output / "result.json").read_text())["validation"]
    assert (looked_at["measured"], looked_at["value"]) == (1, 3)
    assert looked_at["verdict"] == "FAIL"


def test_quicklook_batch_of_bad_runs_only_writes_nothing(store, gammapy_data, tmp_path):
    for obs_id in (23526, 23559):
        path = store / "data" / hess_file(gammapy_data, obs_id).name
        damage(path, "empty", hess_file(gammapy_data, obs_id))
    output = tmp_path / "ql"
    outcome = cli(
        "quicklook", store, "--output", output, "-q",
        "--obs-id", 23526, "--obs-id", 23559,
    )  # fmt: skip
    assert_one_line(outcome, 1, "all 2 runs failed (listed above); nothing written")
    assert outcome.stderr.count("Empty or corrupt FITS file") == 2
    assert not output.exists()
    assert tree(tmp_path / "store" / "data") != {}  # the data are untouched
