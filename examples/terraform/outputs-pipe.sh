#!/usr/bin/env bash
# After `terraform apply`: push every root output into Pipelines variables. Sensitive outputs are stored secured;
# numbers and booleans as their JSON text, lists and maps as compact JSON. Run it in the Terraform working
# directory; credentials come from the environment (BITBUCKET_CLIENT_ID and BITBUCKET_CLIENT_SECRET, or
# BITBUCKET_ACCESS_TOKEN).
#
#   outputs-pipe.sh WORKSPACE REPOSITORY [more `bbvars sync` options: --environment Production --upper --prune ...]
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 WORKSPACE REPOSITORY [bbvars sync options]" >&2
  exit 2
fi

# Without a state (wrong directory, nothing applied yet) `terraform output -json` prints {} and succeeds; with
# --prune that would delete every variable of the target, so refuse it here.
outputs="$(terraform output -json)"
if [ "$outputs" = "{}" ]; then
  echo "$0: terraform output has no outputs: run this in the Terraform working directory, after apply" >&2
  exit 1
fi

printf '%s\n' "$outputs" | bbvars sync --workspace "$1" --repository "$2" "${@:3}"
