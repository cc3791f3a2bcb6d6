#!/usr/bin/env bash
# Build humelab's wheel, install it into a fresh venv outside the checkout, and check
# that the example media, the example frames and `humelab demo` work from there.
#
#   tests/wheel_check.sh              # dependencies from PyPI (pip's cache helps)
#   WHEEL_CHECK_DEPS=reuse tests/wheel_check.sh
#                                     # offline: the new venv sees this interpreter's
#                                     # site-packages for the dependencies (humelab
#                                     # itself still comes from the wheel)
#
# PYTHON picks the interpreter that builds the wheel and makes the venv (default:
# python3 on PATH). The build uses pip's isolated build environment (setuptools
# from PyPI or pip's cache). Exit status 0 means every check passed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/humelab-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

echo "== build the wheel from a copy of the working tree (files git does not ignore)"
mkdir -p "$WORK/src" "$WORK/dist"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$WORK/src"
"$PY" -m pip wheel --quiet --no-deps -w "$WORK/dist" "$WORK/src"
WHEEL=$(ls "$WORK"/dist/humelab-*.whl)
echo "   $(basename "$WHEEL")"
"$PY" - "$WHEEL" <<'EOF'
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
need = ["humelab/examples/index.csv", "humelab/examples/face_smile.jpg",
        "humelab/examples/face_smile.expressions.csv",
        "humelab/examples/results/demo.predictions.json.gz"]
missing = [n for n in need if n not in names]
assert not missing, f"the wheel lacks {missing}"
print(f"   {len(names)} entries, examples included")
EOF

echo "== a fresh venv outside the checkout"
"$PY" -m venv "$WORK/venv"
VPY="$WORK/venv/bin/python"
if [ "${WHEEL_CHECK_DEPS:-pypi}" = reuse ]; then
    SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    VSITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$SITE" > "$VSITE/_humelab_wheel_check_deps.pth"
    "$VPY" -m pip install --quiet --no-deps "$WHEEL"
else
    echo "== the core install (no extras) reads results without the web stack"
    "$VPY" -m pip install --quiet "$WHEEL"
    (cd "$WORK" && "$VPY" - "$ROOT/tests/fixtures/v0_all_shapes.json" <<'EOF2'
import importlib.util
import sys

import humelab

df = humelab.read_predictions(sys.argv[1], errors="ignore")
humelab.validate(df)
for name in ("starlette", "uvicorn", "av"):
    assert importlib.util.find_spec(name) is None, f"{name} came with the core install"
loaded = [m for m in sys.modules if m.startswith("humelab.service")]
assert not loaded, loaded
print(f"   core install: {len(df):,} scores read, no web stack installed or imported")
EOF2
    )
    "$VPY" -m pip install --quiet "${WHEEL}[service]"
fi

echo "== humelab from the wheel"
cd "$WORK"
export HUMELAB_DATA_DIR="$WORK/data"
unset HUMELAB_DATASETS HUMELAB_URL HUMELAB_API_KEY
"$VPY" - "$ROOT" <<'EOF'
import sys
from pathlib import Path

import humelab

root = Path(sys.argv[1]).resolve()
pkg = Path(humelab.__file__).resolve().parent
assert root not in pkg.parents, f"humelab was imported from the checkout: {pkg}"
files = humelab.example_files(with_scripts=True)
assert files and all(p.is_file() and pkg in p.parents for p in files), files
for name in humelab.list_examples():
    df = humelab.load_example(name)
    humelab.validate(df)
    assert df.attrs["simulated"] is True, name
print(f"   humelab {humelab.__version__} at {pkg}: {len(files)} example files, "
      f"{len(humelab.list_examples())} example frames")
EOF

echo "== humelab demo"
"$WORK/venv/bin/humelab" demo > "$WORK/demo.out"
tail -n 5 "$WORK/demo.out"
grep -q "COMPLETED" "$WORK/demo.out"
grep -q "SIMULATED" "$WORK/demo.out"
echo "wheel check passed"
