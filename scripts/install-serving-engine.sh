#!/bin/sh
# Install the llama.cpp serving engine (llama-cpp-python) into the virtual environment.
#
# llama-cpp-python compiles llama.cpp during `pip install` (about 7 minutes on 2 cores with the flags below). The wheel
# is built once per machine and kept in ~/.cache/tutorloop/llama-cpp-wheels/<key>, where the key covers
# the version, CMAKE_ARGS, the Python version and this CPU's instruction sets: llama.cpp is built for
# the CPU it compiles on, so a wheel from another machine could crash here (pip's own wheel cache keys
# only on the source package, so it is not used for this one).
#
# Never fails the install: where the engine cannot be built (no compiler, no CMake), the app runs on
# the transformers engine and says so in one line. TUTORLOOP_SERVING=transformers skips the build.
# GPU builds: CMAKE_ARGS="-DGGML_CUDA=on" (NVIDIA) or "-DGGML_METAL=on" (Apple; the default on a Mac).
set -u
PY=${1:?usage: install-serving-engine.sh PYTHON}
VERSION=0.3.36
# Only the library the app loads: llama.cpp's tests, examples, tools and server are not built (a
# 2-core build took 400 s this way). Your CMAKE_ARGS are added after these.
BASE_ARGS="-DGGML_NATIVE=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF"
CMAKE_ARGS="$BASE_ARGS${CMAKE_ARGS:+ $CMAKE_ARGS}"
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

if [ "${TUTORLOOP_SERVING:-}" = "transformers" ]; then
    echo "Serving engine: skipped (TUTORLOOP_SERVING=transformers); replies run on transformers."
    exit 0
fi
if [ "$("$PY" -c 'import llama_cpp; print(llama_cpp.__version__)' 2>/dev/null)" = "$VERSION" ]; then
    exit 0
fi

cpu_features() {
    if [ -r /proc/cpuinfo ]; then
        grep -m1 -E '^(flags|Features)' /proc/cpuinfo
    else
        sysctl -n machdep.cpu.features machdep.cpu.leaf7_features hw.optional.arm64 2>/dev/null
    fi
    uname -m
}
KEY=$( { echo "$VERSION"; echo "$CMAKE_ARGS"; "$PY" -c 'import sys; print(sys.version_info[:2])'; cpu_features; } \
       | "$PY" -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest()[:16])')
CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/tutorloop/llama-cpp-wheels/$KEY

if ! ls "$CACHE"/llama_cpp_python-"$VERSION"-*.whl >/dev/null 2>&1; then
    if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1 && ! command -v clang >/dev/null 2>&1; then
        echo "Serving engine: no C compiler found, so llama.cpp cannot be built; replies will run on the slower"
        echo "  transformers engine. Install a compiler (Debian/Ubuntu: apt-get install build-essential) and run make again."
        exit 0
    fi
    echo "Serving engine: building llama.cpp for this machine, once (about 7 minutes on 2 cores; later"
    echo "  installs reuse the wheel in $CACHE). CMAKE_ARGS=$CMAKE_ARGS"
    mkdir -p "$CACHE.partial"
    if ! CMAKE_ARGS="$CMAKE_ARGS" CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" "$PY" -m pip wheel --quiet --no-deps --no-cache-dir -w "$CACHE.partial" \
            "llama-cpp-python==$VERSION"; then
        rm -rf "$CACHE.partial"
        echo "Serving engine: the llama.cpp build failed (see above); replies will run on the slower transformers"
        echo "  engine. Fix the build (a C/C++ compiler and CMake are needed) and run make again."
        exit 0
    fi
    rm -rf "$CACHE" && mv "$CACHE.partial" "$CACHE"
fi
if ! "$PY" -m pip install --quiet --no-deps --no-index --find-links "$CACHE" "llama-cpp-python==$VERSION"; then
    echo "Serving engine: installing the cached llama.cpp wheel failed; replies will run on transformers."
    echo "  Delete $CACHE and run make again to rebuild it."
fi
exit 0
