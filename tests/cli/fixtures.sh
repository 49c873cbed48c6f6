# tests/cli/fixtures.sh — the one skip mechanism for CLI tests that read the shared fixtures.
# Sourced, not run (CTest runs only test_*.sh). Sets FX to the fixtures directory:
# $PD_SHARED_DIR/fixtures (CTest passes the directory CMake was configured with), else ../shared next
# to this checkout. Exit code 77 is CTest's SKIP_RETURN_CODE: the test shows as skipped, not failed.
#
#   . "$(dirname "$0")/fixtures.sh"
#   need_fixtures                         # whole test needs them: "SKIPPED: ..." and exit 77 if missing
#   if have_fixtures "tiny-llama part"; then ...; fi   # one part needs them; the rest still runs
#   fixtures_exit $fail                   # last line of a test that used have_fixtures: $fail if
#                                         # non-zero, else 77 if a part was skipped, else 0
PD_SHARED_DIR=${PD_SHARED_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/../shared}
FX=$PD_SHARED_DIR/fixtures
PD_FIXTURE_SKIPS=0

need_fixtures() {
  if [ ! -d "$FX" ]; then
    echo "SKIPPED: $(basename "$0") needs the shared fixtures, not found at $FX (set PD_SHARED_DIR)"
    exit 77
  fi
}

have_fixtures() { # what (for the message)
  [ -d "$FX" ] && return 0
  echo "SKIPPED: ${1:-a part} needs the shared fixtures, not found at $FX (set PD_SHARED_DIR)"
  PD_FIXTURE_SKIPS=$((PD_FIXTURE_SKIPS + 1))
  return 1
}

fixtures_exit() { # fail-flag
  if [ "${1:-0}" != 0 ]; then exit "$1"; fi
  if [ "$PD_FIXTURE_SKIPS" -gt 0 ]; then
    echo "SKIPPED: $PD_FIXTURE_SKIPS part(s) need the shared fixtures; everything else passed"
    exit 77
  fi
  exit 0
}
