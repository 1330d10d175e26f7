#!/bin/sh
# `make lock`: re-resolve requirements/{runtime,airflow,test}.lock from pyproject's ranges.
#
# One resolution of everything (.[airflow,test]) fixes every version; each layer is then the
# subset its own extras pull in, installed under that resolution as constraints. So the layers
# never disagree: the API image installs runtime.lock alone, the Airflow image runtime +
# airflow, a development venv all three.
set -eu
PYTHON=${PYTHON:-python3.11}
OUT=requirements
WORK=.lock-venv
PIP="--disable-pip-version-check -qq"

freeze() { "$1/bin/pip" freeze --exclude-editable --disable-pip-version-check | sort -f; }

header() {
  echo "# $1"
  echo "# Exact versions (Python 3.11), resolved together with the other locks in $OUT/."
  echo "# Regenerate all three: make lock"
}

rm -rf "$WORK" && mkdir -p "$WORK" "$OUT"
"$PYTHON" -m venv "$WORK/all"
"$WORK/all/bin/pip" install $PIP -e '.[airflow,test]'
freeze "$WORK/all" > "$WORK/all.txt"

"$PYTHON" -m venv "$WORK/runtime"
"$WORK/runtime/bin/pip" install $PIP -c "$WORK/all.txt" -e .
freeze "$WORK/runtime" > "$WORK/runtime.txt"

"$PYTHON" -m venv "$WORK/airflow"
"$WORK/airflow/bin/pip" install $PIP -c "$WORK/all.txt" -e '.[airflow]'
freeze "$WORK/airflow" > "$WORK/airflow.txt"

{ header "The API (pip install -r $OUT/runtime.lock)."; cat "$WORK/runtime.txt"; } > "$OUT/runtime.lock"
{ header "Airflow and the pipeline, on top of runtime.lock."
  grep -vxF -f "$WORK/runtime.txt" "$WORK/airflow.txt"; } > "$OUT/airflow.lock"
{ header "Test tools, on top of runtime.lock and airflow.lock."
  grep -vxF -f "$WORK/airflow.txt" "$WORK/all.txt"; } > "$OUT/test.lock"
rm -rf "$WORK"
wc -l "$OUT"/*.lock
