#!/usr/bin/env bash
# speechbrain-align: set-up and entry point.
#   bash run.sh          set up, then run the whole experiment on the default corpus
#   bash run.sh test     set up, then run the test suite
#   bash run.sh lock     rewrite requirements.lock from the current .venv
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
    # Installs exactly the versions in requirements.lock (all transitive packages), then
    # the plugin itself without resolving anything again. Reinstalls when the lock or
    # setup.py changes.
    local stamp="$VENV/.sb_align_stamp"
    local want
    want=$(cat setup.py requirements.lock | sha1sum | cut -d' ' -f1)
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        echo "[run.sh] creating virtual environment $VENV"
        python3 -m venv "$VENV"
    fi
    echo "[run.sh] installing the locked dependencies (requirements.lock; about 5 GB, 1-3 min)"
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.lock
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .
    "$VENV/bin/python" -m pip check >/dev/null || {
        "$VENV/bin/python" -m pip check >&2
        echo "[run.sh] the installed packages are inconsistent (pip check above)" >&2
        exit 1
    }
    echo "$want" > "$stamp"
}

write_lock() {
    # Rewrites requirements.lock from the working .venv (after a deliberate upgrade there).
    {
        sed -n '1,/^# Regenerate/p' requirements.lock
        "$VENV/bin/python" -m pip freeze --exclude-editable |
            sed -E 's/^((nvidia-|cuda-|triton).*)$/\1 ; platform_system == "Linux" and platform_machine == "x86_64"/'
    } > requirements.lock.tmp
    mv requirements.lock.tmp requirements.lock
    echo "[run.sh] wrote requirements.lock ($(grep -c == requirements.lock) packages)"
}

if [ "$mode" = lock ]; then
    write_lock
    exit 0
fi
debian_setup
python_setup
export PYTHONHASHSEED=0
export SB_ALIGN_LOCKED=1
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
