#!/bin/bash
# test/checks/fuzz_smoke.sh: 3000 generated documents (fixed seed) sent to feast_push;
# every call succeeds or fails cleanly (class 22/42, naming row and field), a failed
# call writes nothing, the server never restarts.  Longer runs: test/fuzz/fuzz.sh.
exec bash "$CF_ROOT/test/fuzz/fuzz.sh" "${CF_FUZZ_SEED:-20261125}" "${CF_FUZZ_COUNT:-3000}"
