# tests/dist/mpi_env.sh — sourced by the MPI tests: what Open MPI 4.1 needs to run 2 ranks on a small
# shared machine, as root, in a container.
# - root: mpirun refuses to run as root without both variables (or --allow-run-as-root).
# - oversubscribe: 2 ranks on a machine that may report fewer free slots.
# - yield_when_idle: a rank waiting in a collective yields the core instead of spinning (2 cores).
# - btl: shared memory (vader) + self; vader's single-copy mechanism off, since CMA (process_vm_readv)
#   is often forbidden in containers (ptrace scope), which fails or warns at the first large message.
# - LeakSanitizer (ASan builds): Open MPI's own allocations at exit are suppressed (libmpi/open-pal/
#   orte/pmix and their plugins only — never ponder code), tests/dist/lsan.supp; the plugins stay loaded
#   until exit (disable_dlclose) so that LeakSanitizer can name them.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
export OMPI_MCA_mpi_yield_when_idle=1
export OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mca_base_component_disable_dlclose=1
_pd_dist_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Open MPI's libraries have no frame pointers: ASan's fast unwinder stops after one frame there (an
# "<unknown module>" that no suppression can name); the slow unwinder sees libmpi's frames.
export ASAN_OPTIONS="fast_unwind_on_malloc=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$_pd_dist_dir/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
