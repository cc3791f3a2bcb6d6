"""The ``df.hume`` accessor: registered by ``import humelab``, same results as the
functions, and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest

import humelab
from tests.test_analysis import _interview, face, tidy

CASES = [
    ("top", humelab.top_emotions, (3,), {}),
    ("top", humelab.top_emotions, (), {"by": None, "family": None}),
    ("summarize", humelab.summarize, (), {}),
    ("summarize", humelab.summarize, (), {"confidence": 0.9, "by": "model"}),
    ("resample", humelab.resample, (), {"freq": "500ms"}),
    ("resample", humelab.resample, (), {"freq": 1.0, "how": "max"}),
    ("align", humelab.align, (), {"to": "prosody"}),
    ("align", humelab.align, (), {"to": 1.0}),
    ("smooth", humelab.smooth, (), {"window": 2}),
    ("smooth", humelab.smooth, (), {"window": "1s", "center": False}),
    ("normalize", humelab.normalize, (), {}),
    ("normalize", humelab.normalize, (), {"method": "baseline", "baseline": (0, 2)}),
    ("dominant", humelab.dominant, (), {}),
]


@pytest.mark.parametrize(("method", "func", "args", "kwargs"), CASES)
def test_accessor_equals_function(method, func, args, kwargs):
    df = tidy(_interview().to_dict("records"), attrs={"simulated": False})
    via_accessor = getattr(df.hume, method)(*args, **kwargs)
    via_function = func(df, *args, **kwargs)
    pd.testing.assert_frame_equal(via_accessor, via_function)
    assert via_accessor.attrs == via_function.attrs == {"simulated": False}


def test_accessor_exposes_the_analysis_functions_and_nothing_else():
    public = {n for n in dir(tidy(face([0.0], [0.1])).hume) if not n.startswith("_")}
    assert public == {
        "top",
        "summarize",
        "resample",
        "align",
        "smooth",
        "normalize",
        "dominant",
    }


def test_accessor_errors_are_the_functions_errors():
    wide = humelab.to_wide(_interview())
    with pytest.raises(humelab.SchemaError, match="wide frame"):
        wide.hume.top()
    with pytest.raises(humelab.InputError, match="not a positive time step"):
        _interview().hume.resample(freq="soon")


def test_import_humelab_registers_the_accessor():
    # In a fresh interpreter, `import humelab` alone makes `df.hume` work
    code = (
        "import pandas as pd, humelab\n"
        "df = pd.DataFrame({'name': ['a', 'a', 'b'], 'score': [0.2, 0.4, 0.1]})\n"
        "print(round(df.hume.top(1, time=None)['mean'].iloc[0], 9))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0.3"  # (0.2 + 0.4) / 2
