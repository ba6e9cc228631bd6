#!/usr/bin/env bash
# Builds the operator image, then every instance image of src/api/images.ts (the instance images copy Node and the
# cloudnative-mysql build out of the operator image). Needs a Docker engine, which the development machines of this
# project do not have: `images/build.sh --print` prints the commands instead (a test checks them).
# Usage: images/build.sh [--print] [--push]
set -euo pipefail
cd "$(dirname "$0")/.."

print=false
push=false
for arg in "$@"; do
  case "$arg" in
    --print) print=true ;;
    --push) push=true ;;
    *) echo "usage: images/build.sh [--print] [--push]" >&2; exit 2 ;;
  esac
done

# Node >= 24 reads src/api/images.ts directly; the project's own Node when installed
node=node
if [ -x node_modules/.bin/node ]; then node=node_modules/.bin/node; fi

# one line per image: <reference> <dockerfile>, from the image table and the package version
mapfile -t images < <("$node" --input-type=module -e '
  import { readFileSync } from "node:fs"
  import { instanceImage, instanceImages, operatorImage } from "./src/api/images.ts"
  const { version } = JSON.parse(readFileSync("package.json", "utf8"))
  console.log(`${operatorImage(version)} images/operator/Dockerfile`)
  for (const image of instanceImages) console.log(`${instanceImage(image.tag)} images/instance/${image.tag}/Dockerfile`)
')

if [ "${#images[@]}" -lt 2 ]; then
  echo "images/build.sh: cannot read src/api/images.ts (Node >= 24 needed: run npm ci first)" >&2
  exit 1
fi
operator="${images[0]%% *}"
run() {
  if $print; then echo "$*"; else "$@"; fi
}
for line in "${images[@]}"; do
  reference="${line%% *}"
  dockerfile="${line#* }"
  run docker build --file "$dockerfile" --build-arg "OPERATOR_IMAGE=$operator" --tag "$reference" .
  if $push; then run docker push "$reference"; fi
done
