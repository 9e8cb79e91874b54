# Source this (". scripts/mlx-cpu-env.sh") before running MLX work on a Linux CPU: the tests of
# the tiny real pipelines, the benches. It does nothing on macOS, where MLX runs on Metal.
#
# MLX's CPU wheel (mlx-cpu) bundles the reference BLAS, and MLX's CPU allocator keeps no cache,
# so glibc hands every large freed buffer back to the system and the next one is faulted in
# again (about a million page faults per tiny Wan call). With Debian's OpenBLAS in place of the
# reference BLAS and glibc keeping freed memory in one arena, the same pipelines run 2-20x faster
# (docs/mlx-video.md, "Speed on a Linux CPU"). Results are the same computation; memory that
# was used stays with the process until it exits.
#
# Needs Debian's libopenblas0-pthread (scripts/test.sh installs it when it can); without it only
# the allocator setting applies. The preload is for Python processes: start Chromium without it
# (its zygote does not start with it; tests/_chromium.py).
if [ "$(uname -s)" = "Linux" ]; then
    _mlx_blas="/usr/lib/$(uname -m)-linux-gnu/openblas-pthread/libblas.so.3"
    if [ -f "$_mlx_blas" ]; then
        case ":${LD_PRELOAD:-}:" in
            *":$_mlx_blas:"*) ;;
            *) export LD_PRELOAD="$_mlx_blas${LD_PRELOAD:+:$LD_PRELOAD}" ;;
        esac
    fi
    _mlx_malloc="glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"
    case ":${GLIBC_TUNABLES:-}:" in
        *":$_mlx_malloc:"*) ;;
        *) export GLIBC_TUNABLES="${GLIBC_TUNABLES:+$GLIBC_TUNABLES:}$_mlx_malloc" ;;
    esac
    unset _mlx_blas _mlx_malloc
fi
