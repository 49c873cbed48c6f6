#!/usr/bin/env bash
# tests/serve/run.sh — runs one client test file of `ponder serve` (tests/serve/*.test.mjs) with `node --test`,
# as CTest does: bash tests/serve/run.sh PONDER FILE.test.mjs
# SKIPS (exit 77, CTest's SKIP_RETURN_CODE) with a line saying why when something it needs is not here:
# the shared fixtures (tests/cli/fixtures.sh), node, the npm packages (`make deps` installs them into
# tests/serve/node_modules from the committed package-lock.json), chromium (browser test only), or a ponder
# built without the server. Otherwise its exit status is node's: 0 when every test passed.
set -u
P=${1:?usage: run.sh PONDER FILE.test.mjs}
FILE=${2:?usage: run.sh PONDER FILE.test.mjs}
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/../cli/fixtures.sh"
need_fixtures
skip() { echo "SKIPPED: $(basename "$FILE"): $*"; exit 77; }
command -v node > /dev/null || skip "needs node (Debian nodejs; make deps)"
[ -d "$HERE/node_modules/openai" ] && [ -d "$HERE/node_modules/playwright-core" ] ||
  skip "needs the npm packages in tests/serve/node_modules (make deps runs npm ci there)"
case "$FILE" in
  *browser*) [ -x "${PD_CHROMIUM:-/usr/bin/chromium}" ] || skip "needs chromium (Debian chromium; make deps)" ;;
esac
"$P" serve --help > /dev/null 2>&1 || skip "this ponder has no server (ponder serve --help fails; libmicrohttpd missing?)"
export PONDER=$(cd "$(dirname "$P")" && pwd)/$(basename "$P")
export PD_SHARED_DIR
# Bounded: node's own per-test timeouts (in the files) plus this overall one; the test files kill their
# servers on exit, and `timeout` kills node (and so its servers) if everything else fails.
exec timeout -k 10 "${PD_SERVE_TEST_TIMEOUT:-840}" node --test --test-reporter=spec "$FILE"
