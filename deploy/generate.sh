#!/bin/sh
# Regenerates deploy/crds/*.yaml (from `ferrolb crds`), deploy/ferrolb.yaml
# (every manifest under deploy/, in apply order) and the Helm chart's copies
# under deploy/helm/ferrolb/files/ (the CRDs, monitoring/ferrolb-rules.yaml).
# The same test, without FERROLB_REGENERATE, fails when a generated file is
# out of date.
set -eu
cd "$(dirname "$0")/.."
test=deploy::generated_files_are_up_to_date
if ! out=$(FERROLB_REGENERATE=1 cargo test --quiet -p ferrolb --test it -- --exact "$test" 2>&1); then
    printf '%s\n' "$out" >&2
    exit 1
fi
case $out in
*"1 passed"*) echo "deploy/: regenerated" ;;
*)
    printf '%s\n' "$out" >&2
    echo "generate.sh: the test $test did not run" >&2
    exit 1
    ;;
esac
