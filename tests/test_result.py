"""The typed result: result.json read and written through `sat.result.Result`.

A real run (joint-crab on the H.E.S.S. spectra alone, a few seconds) writes the
file; the model must read it back unchanged, keep the layout readers rely on, and
refuse a file that is not a result.
"""

from __future__ import annotations

import json
import math

import pytest
from pydantic import ValidationError

from sat.result import RESULT, BoundsCheck, Check, Product, Result
from sat.usecases.runner import run_usecase
from sat.validation import Bounds, Reference, check_bounds, compare

pytestmark = [
    pytest.mark.verifies_requirement("C-SAT-0070"),
    pytest.mark.verifies_requirement("C-SAT-0324"),
]

# The keys of result.json before the model existed: verification, report and docs
# read them.
LEGACY_KEYS = ["usecase", "usecase_id", "ctao_sat", "parameters", "validation"]
CHECK_KEYS = {
    "quantity",
    "value",
    "error",
    "unit",
    "source",
    "n_sigma",
    "why",
    "measured",
    "measured_error",
    "deviation_sigma",
    "verdict",
}


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    output = tmp_path_factory.mktemp("result") / "joint-crab"
    result = run_usecase("joint-crab", {"instruments": ["hess"]}, output, quiet=True)
    return result, output


def test_a_written_result_reads_back_unchanged(written):
    result, output = written
    text = (output / RESULT).read_text()
    read = Result.read(output)
    assert read.to_json() == text
    assert read == result
    raw = json.loads(text)
    # The model reads like its JSON: the same keys, the same values.
    assert read == raw and read["fits"] == raw["fits"]
    assert list(raw)[:5] == LEGACY_KEYS and list(raw)[-2:] == ["summary", "provenance"]
    assert raw["products"] == [product.path for product in read.products]
    for check in raw["validation"]:
        assert set(check) == CHECK_KEYS | {"fit"} and check["fit"] == "hess"
    assert raw["parameters"]["alpha"] == read.parameters["alpha"].model_dump()


def test_products_are_paths_of_a_kind(written):
    result, output = written
    kinds = {product.path: product.kind for product in result.products}
    assert kinds["sed.png"] == "figure"
    assert kinds["models/hess.yaml"] == "models"
    assert kinds["models/hess_covariance.dat"] == "covariance"
    for product in result.products:
        assert (output / product).is_file()
        assert product.locate(output) == output / product.path
    assert Product("maps/x.fits.gz").kind == "fits"


def test_checks_keep_their_kind_through_json():
    reference = compare(Reference("index", 2.0, 0.1, "", "paper", 2.0, "why"), 2.5)
    assert reference.verdict == "FAIL" and reference.deviation_sigma == 5.0
    assert "fit" not in reference.model_dump()
    bounds = check_bounds(
        Bounds("beta", 0.0, math.inf, "", "physics", "no negative curvature"), -0.5
    )
    assert bounds.maximum is None and not bounds.passed
    result = Result(
        usecase="x", usecase_id="y", ctao_sat="0", validation=[reference, bounds]
    )
    again = Result.model_validate(json.loads(result.to_json()))
    assert [type(check) for check in again.validation] == [Check, BoundsCheck]
    assert again.validation[1].describe() == "beta = -0.5, allowed [0, inf]"
    assert again.failures == again.validation and not again.passed


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda raw: raw["validation"][0].update(verdict="MAYBE"), "verdict"),
        (lambda raw: raw.pop("usecase"), "usecase"),
        (lambda raw: raw["parameters"]["alpha"].pop("value"), "value"),
    ],
)
def test_a_damaged_result_is_refused(written, tmp_path, change, key):
    raw = json.loads((written[1] / RESULT).read_text())
    change(raw)
    (tmp_path / RESULT).write_text(json.dumps(raw))
    with pytest.raises(ValidationError, match=key):
        Result.read(tmp_path)
