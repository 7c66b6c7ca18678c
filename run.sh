#!/usr/bin/env bash
# speechbrain-align: set-up and entry point.
#   bash run.sh          set up, then run the whole experiment on the default corpus
#   bash run.sh test     set up, then run the test suite
# Extra arguments after the first are passed on (e.g. `bash run.sh experiment --full`).
# Idempotent: a second run reuses the virtual environment, packages and data.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
VENV=${SB_ALIGN_VENV:-$ROOT/.venv}
DEBIAN_PACKAGES="sword-text-web sword-text-kjv sword-text-sparv libsword-utils dict-freedict-eng-spa"
mode=${1:-experiment}
[ $# -gt 0 ] && shift

debian_setup() {
    local missing=()
    for p in $DEBIAN_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        echo "[run.sh] installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "[run.sh] Debian packages missing: ${missing[*]}"
        echo "[run.sh] run this once as root, then run this script again:"
        echo "    sudo apt-get install -y ${missing[*]}"
        exit 1
    fi
}

python_setup() {
    local stamp="$VENV/.sb_align_stamp"
    local want
    want=$(cat setup.py | sha1sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[run.sh] creating virtual environment $VENV"
        python3 -m venv "$VENV"
    fi
    echo "[run.sh] installing the package and its dependencies (about a minute)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e ".[dev]"
    echo "$want" > "$stamp"
}

debian_setup
python_setup
export PYTHONHASHSEED=0
case "$mode" in
    test)
        exec "$VENV/bin/python" -m pytest -q "$@"
        ;;
    experiment)
        hparams=recipes/Bible/experiment/hparams/default.yaml
        if [ "${1:-}" = "--full" ]; then
            hparams=recipes/Bible/experiment/hparams/full.yaml
            shift
        fi
        exec "$VENV/bin/python" recipes/Bible/experiment/run_experiment.py "$hparams" "$@"
        ;;
    *)
        echo "usage: bash run.sh [experiment|test] [options]" >&2
        exit 2
        ;;
esac
