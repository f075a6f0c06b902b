#!/usr/bin/env bash
# Checks the module layering: every `import` in Sources/<Module>/ must be allowed for <Module> by
# the table between the `layers:begin` and `layers:end` markers in docs/architecture.md
# (| module | may import |). Toolchain modules (Glibc, Foundation, Dispatch, …) are always
# allowed. Prints each offending file, line and import, and exits 1 when there is one.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
table="$repo/docs/architecture.md"
always=" Glibc Foundation FoundationEssentials FoundationNetworking Dispatch Synchronization _Concurrency Darwin "

declare -A allowed
in_table=0
while IFS= read -r line; do
    case "$line" in
        *"layers:begin"*) in_table=1; continue ;;
        *"layers:end"*) in_table=0; continue ;;
    esac
    [[ $in_table == 1 && "$line" == "|"* ]] || continue
    module=$(echo "$line" | cut -d'|' -f2 | tr -d ' `')
    imports=$(echo "$line" | cut -d'|' -f3 | tr -d '`' | tr ',' ' ')
    [[ -z "$module" || "$module" == "module" || "$module" == -* ]] && continue
    allowed[$module]=" $(echo $imports) "
done < "$table"

if [[ ${#allowed[@]} == 0 ]]; then
    echo "check-layers: no table between layers:begin and layers:end in $table" >&2
    exit 1
fi

status=0
for dir in "$repo"/Sources/*/; do
    module=$(basename "$dir")
    if ! find "$dir" -name '*.swift' | grep -q .; then continue; fi
    if [[ -z "${allowed[$module]+set}" ]]; then
        echo "check-layers: Sources/$module has no row in the table of docs/architecture.md" >&2
        status=1
        continue
    fi
    while IFS=: read -r file lineno text; do
        name=$(echo "$text" | sed -E 's/^[[:space:]]*(@[A-Za-z_]+[[:space:]]+)*import[[:space:]]+((struct|class|enum|protocol|func|var|let|typealias)[[:space:]]+)?([A-Za-z_0-9]+).*/\4/')
        [[ "$always" == *" $name "* ]] && continue
        if [[ "${allowed[$module]}" != *" $name "* ]]; then
            echo "check-layers: ${file#$repo/}:$lineno: $module may not import $name (allowed:${allowed[$module]% })" >&2
            status=1
        fi
    done < <(grep -rnE '^[[:space:]]*(@[A-Za-z_]+[[:space:]]+)*import[[:space:]]+' --include='*.swift' "$dir" || true)
done
[[ $status == 0 ]] && echo "check-layers: every import of Sources/* is allowed by docs/architecture.md"
exit $status
