#!/bin/bash
# tests/dist/nompi_refuses.sh PONDER — registered only in a build without MPI (CMake): a ponder that
# cannot talk to other processes, started as one of several by a launcher (the environment mpirun
# sets), refuses with a message saying so and exits 1; started alone it runs as usual.
set -u
P=${1:?usage: nompi_refuses.sh path/to/ponder}
fail() { echo "FAIL: $*"; exit 1; }
OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0 "$P" tasks list >/dev/null 2>/tmp/nompi.$$; rc=$?
err=$(cat /tmp/nompi.$$); rm -f /tmp/nompi.$$
[ $rc -eq 1 ] || fail "launched as 1 of 2 without MPI: exit $rc (expected 1)"
echo "$err" | grep -q "built without MPI" || fail "the message says why: $err"
PMI_SIZE=3 "$P" tasks list >/dev/null 2>&1 && fail "PMI_SIZE=3 (MPICH/Slurm launchers) is refused too"
"$P" tasks list >/dev/null || fail "alone it runs"
echo "ok"
