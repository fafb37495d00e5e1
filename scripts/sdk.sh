#!/usr/bin/env bash
# `make sdk`: clients of the management API generated from api/openapi.json (the document the
# API serves at /v1/openapi.json) into target/sdk/ (git-ignored: regenerate, never edit):
#   target/sdk/python      openapi-python-client (PyPI): the package `switchyard_client`
#   target/sdk/typescript  openapi-typescript (npm) types + openapi-fetch, type-checked by tsc
#   target/sdk/java        openapi-generator (PyPI wheel openapi-generator-cli, which carries
#   target/sdk/php         its jar: nothing comes from Maven Central), on a Java runtime
# Every generator is pinned (requirements-sdk.txt, sdk/package-lock.json); scripts/setup-sdk.sh
# installs them. SDK_LANGUAGES="python typescript" narrows the run.
set -euo pipefail
cd "$(dirname "$0")/.."

languages=${SDK_LANGUAGES:-python typescript java php}
case " $languages " in
  *" java "* | *" php "*) scripts/setup-sdk.sh ;;
  *) scripts/setup-sdk.sh --no-java ;;
esac

doc=api/openapi.json
out=target/sdk
mkdir -p "$out"
export PATH="$PWD/.venv-sdk/bin:$PATH"

# Java and PHP: openapi-generator, one call per language (it validates the document first).
openapi_generator() {
  local generator=$1 dir=$2
  shift 2
  rm -rf "$dir"
  openapi-generator-cli generate -i "$doc" -g "$generator" -o "$dir" --global-property apiTests=false,modelTests=false \
    "$@" >"$dir.log" 2>&1 || {
    cat "$dir.log" >&2
    echo "error: openapi-generator ($generator) failed; its output is above (and in $dir.log)." >&2
    exit 1
  }
  rm -f "$dir.log"
}

for language in $languages; do
  echo "==> $language client -> $out/$language" >&2
  case $language in
    python)
      openapi-python-client generate --path "$doc" --output-path "$out/python" --overwrite \
        --config sdk/python-client.yaml --fail-on-warning
      ;;
    typescript)
      rm -rf "$out/typescript"
      mkdir -p "$out/typescript"
      cp sdk/typescript/index.ts sdk/typescript/example.ts sdk/typescript/package.json sdk/typescript/tsconfig.json \
        "$out/typescript/"
      # A free-form object (`{"type": "object"}`, as JSON Schema means it) takes any property.
      sdk/node_modules/.bin/openapi-typescript "$doc" -o "$out/typescript/schema.d.ts" --silent --empty-objects-unknown
      # tsc resolves openapi-fetch from the pinned install in sdk/.
      ln -sfn "$PWD/sdk/node_modules" "$out/typescript/node_modules"
      sdk/node_modules/.bin/tsc -p "$out/typescript"
      ;;
    java)
      openapi_generator java "$out/java" --library native \
        --additional-properties=groupId=dev.switchyard,artifactId=switchyard-client,invokerPackage=dev.switchyard.client,apiPackage=dev.switchyard.client.api,modelPackage=dev.switchyard.client.model,hideGenerationTimestamp=true
      ;;
    php)
      openapi_generator php "$out/php" \
        --additional-properties=invokerPackage=Switchyard\\Client,packageName=SwitchyardClient,composerPackageName=switchyard/client,hideGenerationTimestamp=true
      ;;
    *)
      echo "error: no generator for '$language' (SDK_LANGUAGES takes python, typescript, java and php)." >&2
      exit 2
      ;;
  esac
done
echo "==> clients in $out/: $languages" >&2
