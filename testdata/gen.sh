#!/bin/bash
# Makes (or reuses from the cache) every real dump the tests use.
# Same as `go run ./testdata/gen "$@"` from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./testdata/gen "$@"
