#!/usr/bin/env bash
# Generates protobufjs static code for protocol/millrace.proto into protocol/generated/.
#  - ESM import of protobufjs/minimal.js (the package has no exports map);
#  - int64 as a number, decided here and not by protobufjs's global util.Long (which the SDK must
#    not change for other users of protobufjs in the process): decoded values pass through $num,
#    defaults are 0;
#  - decoded repeated messages typed as the concrete classes, whose fields are always set.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p generated
npx pbjs -t static-module -w es6 --no-verify --no-delimited --no-convert --no-beautify -o generated/millrace.js millrace.proto
npx pbts --no-comments -o generated/millrace.d.ts generated/millrace.js
sed -i 's#"protobufjs/minimal"#"protobufjs/minimal.js"#' generated/millrace.js
sed -i -E 's/typeof \(v = r\.(u?int64)\(\)\) === "object" \? v\.low \|\| v\.high : v !== 0/(v = $num(r.\1())) !== 0/g; s/\$util\.Long \? \$util\.Long\.fromBits\(0,0,(false|true)\) : 0/0/g' generated/millrace.js
sed -i '0,/^const \$root/s//const $num = (v) => (typeof v === "number" ? v : v.toNumber());\nconst $root/' generated/millrace.js
if grep -v '^\s*\*' generated/millrace.js | grep -q 'Long'; then
  echo "generate.sh: generated/millrace.js still refers to Long: update the int64 rewrite" >&2
  exit 1
fi
sed -i -E 's/number\|Long/number/g; s/^( {8}[a-zA-Z]+): millrace\.([A-Za-z]+)\.\$Properties\[\];/\1: millrace.\2[];/' generated/millrace.d.ts
