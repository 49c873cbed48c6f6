# tests/dist/mpirun.sh MPIRUN N PROGRAM [ARGS...] — run PROGRAM on N ranks with tests/dist/mpi_env.sh.
source "$(dirname "$0")/mpi_env.sh"
mpirun="$1"; n="$2"; shift 2
exec timeout 600 "$mpirun" -np "$n" "$@"
