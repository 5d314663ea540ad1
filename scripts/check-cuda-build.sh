#!/usr/bin/env bash
# Build `ouro` with `--features cuda` on a machine that has no CUDA toolkit and no GPU.
#
# The CUDA compiler, headers and libraries come from NVIDIA's wheels on the Python
# package index, installed once into a cache directory and laid out like a CUDA
# toolkit (bin/nvcc, include/, lib/, lib64/, lib/stubs/libcuda.so). The driver
# library libcuda.so is not in any wheel, so the script links against a stub that
# exports the driver API's symbol names under the SONAME libcuda.so.1; the real
# driver provides it at run time.
#
# Usage:
#   scripts/check-cuda-build.sh [--test-bins] [--cu12]
#
#   --test-bins   also build the CUDA test binaries of ouro-model and ouro-train
#                 (`cargo test --release --no-run`) and print their paths
#                 (or OURO_CUDA_TEST_BINS=1)
#   --cu12        use the CUDA 12.9 wheels instead of CUDA 13.0 (or OURO_CUDA_MAJOR=12)
#
# Environment:
#   OURO_CUDA_CACHE    cache directory        (default: $HOME/.cache/ouro-cuda)
#   CARGO_TARGET_DIR   cargo's target dir     (default: /work/target-cuda)
#   CUDA_COMPUTE_CAP   GPU architecture       (default: 90, i.e. H100/H200)
#   PYTHON             Python used for pip    (default: python3)
#
# Why CUDA 13.0 exactly: candle-kernels compiles its kernels to PTX, which the
# driver JIT-compiles at run time. A driver only accepts PTX from toolkits up to
# its own CUDA version, and the GPU machine's driver (580) is CUDA 13.0, so a
# newer nvcc (13.1+) would emit PTX the driver refuses. The libraries are pinned
# to the 13.0 releases too; their SONAMEs (libcublas.so.13, ...) are what matters
# at run time, and any 13.x release of them works there.
#
# The cache is reused on later runs: the wheels are installed only when the
# stamp file for the pinned package list is missing.
set -euo pipefail

log() { printf '[check-cuda-build] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

TEST_BINS="${OURO_CUDA_TEST_BINS:-0}"
CUDA_MAJOR="${OURO_CUDA_MAJOR:-13}"
for arg in "$@"; do
    case "$arg" in
        --test-bins) TEST_BINS=1 ;;
        --cu12) CUDA_MAJOR=12 ;;
        -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
        *) die "unknown argument: $arg" ;;
    esac
done

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${OURO_CUDA_CACHE:-$HOME/.cache/ouro-cuda}"
PYTHON="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-cuda}"
export CUDA_COMPUTE_CAP="${CUDA_COMPUTE_CAP:-90}"

case "$CUDA_MAJOR" in
    13)
        # CUDA 13 wheels all install into site-packages/nvidia/cu13/{bin,include,lib,nvvm}.
        PACKAGES=(
            nvidia-cuda-nvcc==13.0.88     # nvcc, ptxas, fatbinary, nvlink
            nvidia-cuda-crt==13.0.88      # include/crt (nvcc's host/device headers)
            nvidia-nvvm==13.0.88          # cicc, libnvvm, libdevice
            nvidia-cuda-runtime==13.0.96  # cuda.h, cuda_runtime.h, libcudart.so.13
            nvidia-cuda-cccl==13.0.85     # nv/target, cub, thrust (cuda_fp16.hpp needs nv/target)
            nvidia-cuda-nvrtc==13.0.88    # libnvrtc.so.13
            nvidia-cublas==13.0.2.14      # libcublas.so.13, libcublasLt.so.13
            nvidia-curand==10.4.0.35      # libcurand.so.10
        )
        ;;
    12)
        # CUDA 12 wheels install one directory per package: site-packages/nvidia/<pkg>/.
        PACKAGES=(
            nvidia-cuda-nvcc-cu12==12.9.86
            nvidia-cuda-runtime-cu12==12.9.79
            nvidia-cuda-cccl-cu12==12.9.27
            nvidia-cuda-nvrtc-cu12==12.9.86
            nvidia-cublas-cu12==12.9.1.4
            nvidia-curand-cu12==10.3.10.19
        )
        ;;
    *) die "OURO_CUDA_MAJOR must be 12 or 13, got $CUDA_MAJOR" ;;
esac

WHEELS="$CACHE/wheels-cu$CUDA_MAJOR"   # pip install --target
ROOT="$CACHE/cuda-cu$CUDA_MAJOR"       # the toolkit layout (hard links into $WHEELS)
STAMP="$CACHE/.stamp-cu$CUDA_MAJOR"
WANT_STAMP="$(printf '%s\n' "${PACKAGES[@]}" "layout-v1")"

mkdir -p "$CACHE"
log "cache: $CACHE"

# --- 1. Install the wheels (once) and lay them out as a toolkit -----------------
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" && -x "$ROOT/bin/nvcc" ]]; then
    log "reusing cached CUDA $CUDA_MAJOR toolkit at $ROOT"
else
    log "installing CUDA $CUDA_MAJOR wheels into $WHEELS:"
    printf '    %s\n' "${PACKAGES[@]}" >&2
    rm -rf "$WHEELS" "$ROOT" "$STAMP"
    PIP_ROOT_USER_ACTION=ignore "$PYTHON" -m pip install --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: --target "$WHEELS" "${PACKAGES[@]}"

    log "laying out the toolkit at $ROOT"
    mkdir -p "$ROOT"
    # Merge every nvidia/<pkg>/ tree into one root with hard links, so that nvcc
    # (which finds cicc, ptxas and the headers relative to its own real path)
    # sees a single toolkit. For CUDA 13 there is one tree, nvidia/cu13.
    for d in "$WHEELS"/nvidia/*/; do
        [[ "$(basename "$d")" == __pycache__ ]] && continue
        cp -alf "$d". "$ROOT"/
    done
    find "$ROOT" -name '__init__.py' -delete
    find "$ROOT" -name '__pycache__' -type d -prune -exec rm -rf {} +
    [[ -x "$ROOT/bin/nvcc" ]] || die "nvcc missing from the wheels"

    # Unversioned development symlinks (libcublas.so -> libcublas.so.13, ...):
    # the wheels ship only the SONAME files, and `-lcublas` looks for libcublas.so.
    # (Only versions of the form .so.N, so libnvrtc-builtins.so.13.0 gets none.)
    for lib in "$ROOT"/lib/lib*.so.[0-9]*; do
        base="$(basename "$lib")"
        [[ "$base" =~ ^(lib[A-Za-z0-9_+-]+)\.so\.[0-9]+$ ]] || continue
        ln -sfn "$base" "$ROOT/lib/${BASH_REMATCH[1]}.so"
    done
    ln -sfn lib "$ROOT/lib64"

    # Stub driver library. Its SONAME is the real driver's, libcuda.so.1, so the
    # binary asks for libcuda.so.1 at run time. The symbols are every driver API
    # function that cudarc can declare (any CUDA version), as empty functions.
    mkdir -p "$ROOT/lib/stubs"
    cudarc_sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs 2>/dev/null | tail -n1 || true)"
    if [[ -z "$cudarc_sys" ]]; then
        log "cudarc sources not in the cargo registry yet; running cargo fetch"
        (cd "$REPO_ROOT" && cargo fetch --quiet)
        cudarc_sys="$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.*/src/driver/sys/mod.rs | tail -n1)"
    fi
    {
        echo '/* generated by scripts/check-cuda-build.sh: link-time stub of libcuda.so.1 */'
        { grep -oE 'fn cu[A-Za-z0-9_]+\(' "$cudarc_sys" | sed -E 's/^fn (.*)\($/\1/'
          grep -oE '\bCUresult CUDAAPI cu[A-Za-z0-9_]+\(' "$ROOT/include/cuda.h" | sed -E 's/.* (cu[A-Za-z0-9_]+)\($/\1/'
        } | sort -u | sed 's/.*/int &(void) { return 999; }/'
    } > "$ROOT/lib/stubs/libcuda_stub.c"
    cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$ROOT/lib/stubs/libcuda.so" "$ROOT/lib/stubs/libcuda_stub.c"
    log "stub libcuda.so: $(grep -c '^int ' "$ROOT/lib/stubs/libcuda_stub.c") symbols"

    printf '%s' "$WANT_STAMP" > "$STAMP"
fi

# --- 2. Environment for cudarc (build.rs) and candle-kernels (cudaforge) ----------
# cudarc: `nvcc --version` picks the cuda-1X0Y0 cfg; CUDA_ROOT etc. give the link
# search paths <root>/lib, <root>/lib/stubs, <root>/lib64. cudaforge (candle-kernels):
# NVCC or PATH finds nvcc, CUDA_COMPUTE_CAP picks the architecture (90 -> sm_90a).
export CUDA_ROOT="$ROOT" CUDA_PATH="$ROOT" CUDA_HOME="$ROOT" CUDA_TOOLKIT_ROOT_DIR="$ROOT"
export NVCC="$ROOT/bin/nvcc"
export PATH="$ROOT/bin:$PATH"
export LD_LIBRARY_PATH="$ROOT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# Other cargo commands on this target dir must see the same environment, or cargo
# reruns cudarc's and candle-kernels' build scripts (they watch these variables):
# `source "$CARGO_TARGET_DIR/cuda-env.sh"` before them.
mkdir -p "$CARGO_TARGET_DIR"
{
    for v in CUDA_ROOT CUDA_PATH CUDA_HOME CUDA_TOOLKIT_ROOT_DIR NVCC CUDA_COMPUTE_CAP CARGO_TARGET_DIR PATH LD_LIBRARY_PATH; do
        printf 'export %s=%q\n' "$v" "${!v}"
    done
} > "$CARGO_TARGET_DIR/cuda-env.sh"
log "environment saved to $CARGO_TARGET_DIR/cuda-env.sh (source it for other cargo commands here)"

log "nvcc: $("$NVCC" --version | grep -E 'release' || true)"
log "host compiler: $(cc --version | head -n1)"
log "rustc: $(rustc --version)"
log "CUDA_ROOT=$CUDA_ROOT"
log "CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP"
log "CARGO_TARGET_DIR=$CARGO_TARGET_DIR"

cd "$REPO_ROOT"

# --- 3. Build ----------------------------------------------------------------------
start=$(date +%s)
log "running: cargo build --release -p ouro-cli --features cuda"
cargo build --release -p ouro-cli --features cuda
build_end=$(date +%s)

BIN="$CARGO_TARGET_DIR/release/ouro"
[[ -x "$BIN" ]] || die "build finished but $BIN is missing"
log "built $BIN ($(du -h "$BIN" | cut -f1))"
log "dynamic libraries it needs (NEEDED entries):"
if command -v readelf >/dev/null; then
    readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/    \1/p' >&2
fi
log "ldd (with the cached toolkit on LD_LIBRARY_PATH; libcuda.so.1 is the driver and is absent here):"
ldd "$BIN" | sed 's/^/    /' >&2 || true

# --- 4. Test binaries (optional) -----------------------------------------------------
if [[ "$TEST_BINS" == 1 ]]; then
    log "running: cargo test --release -p ouro-model -p ouro-train --features cuda --no-run"
    list="$CARGO_TARGET_DIR/cuda-test-bins.txt"
    cargo test --release -p ouro-model -p ouro-train --features cuda --no-run \
        --message-format=json-render-diagnostics \
        | "$PYTHON" -c '
import json, sys
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("executable") and msg.get("profile", {}).get("test"):
        # package id looks like "path+file:///.../crates/ouro-model#0.1.0"
        pkg = msg["package_id"].split("#")[0].rstrip("/").rsplit("/", 1)[-1]
        print(pkg, msg["target"]["name"], msg["executable"], sep="\t")
' > "$list"
    log "test executables (package, test target, path; also in $list):"
    sed 's/^/    /' "$list" >&2
fi

end=$(date +%s)
log "cargo build (ouro-cli) took $((build_end - start)) s"
if [[ "$TEST_BINS" == 1 ]]; then
    log "test binaries took $((end - build_end)) s; total $((end - start)) s"
fi
