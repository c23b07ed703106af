#!/usr/bin/env bash
# Generates protobufjs static code for protocol/millrace.proto into protocol/generated/.
#  - ESM import of protobufjs/minimal.js (the package has no exports map);
#  - int64 typed as number (protocol/protobuf-numbers.ts makes the runtime decode numbers);
#  - decoded repeated messages typed as the concrete classes, whose fields are always set.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p generated
npx pbjs -t static-module -w es6 --no-verify --no-delimited --no-convert --no-beautify -o generated/millrace.js millrace.proto
npx pbts --no-comments -o generated/millrace.d.ts generated/millrace.js
sed -i 's#"protobufjs/minimal"#"protobufjs/minimal.js"#' generated/millrace.js
sed -i -E 's/number\|Long/number/g; s/^( {8}[a-zA-Z]+): millrace\.([A-Za-z]+)\.\$Properties\[\];/\1: millrace.\2[];/' generated/millrace.d.ts
