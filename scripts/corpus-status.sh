#!/usr/bin/env bash
# Writes docs/corpus-status.md: for every file of the real .dfg corpus (MANIFEST.tsv), whether
# kpu-kernel-compiler compiles it and whether kpu-loader simulates it with every output verified
# against the reference executor, with simulated cycles and external bytes, or the error.
#
#   scripts/corpus-status.sh [output.md]
#
# Environment: BUILD_DIR (built tools; default build/), KPU_SHARED_DIR (default ../shared),
# SEED (input values, default 1), CONFIG (a KPU configuration JSON; default: the embedded one).
# Needs bash and the built tools; parses the loader's JSON with python3 when there is one, else
# with grep and awk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-$root/build}
shared_dir=${KPU_SHARED_DIR:-$root/../shared}
shared_dir=$(cd "$shared_dir" && pwd)
corpus=$shared_dir/dfg-corpus
seed=${SEED:-1}
config=${CONFIG:-}
out=${1:-$root/docs/corpus-status.md}

compiler=$build_dir/compiler/kpu-kernel-compiler
loader=$build_dir/loader/kpu-loader
for tool in "$compiler" "$loader"; do
    [[ -x $tool ]] || { echo "corpus-status: $tool not found; build first (scripts/build.sh)" >&2; exit 2; }
done
[[ -f $corpus/MANIFEST.tsv ]] || { echo "corpus-status: no $corpus/MANIFEST.tsv" >&2; exit 2; }

config_args=()
config_label="the embedded default KPU"
if [[ -n $config ]]; then
    config_args=(--config "$config")
    config_label="\`$(basename "$config")\`"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Prints "cycles<TAB>external_bytes<TAB>tensors<TAB>matching<TAB>max_rel_error<TAB>mismatched"
# for a kpu-loader --json report.
summarize_report() {
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
v = r.get("verify", [])
bad = [x.get("tensor", "?") for x in v if not x.get("match")]
rel = max((x.get("max_rel_error", 0.0) for x in v), default=0.0)
print("\t".join(map(str, [r["total_cycles"], r["external_bytes"], len(v),
                          len(v) - len(bad), "%.3g" % rel, ",".join(bad)])))
EOF
    else
        # The report is pretty-printed, one key per line.
        local f=$1 cycles bytes n ok rel bad
        cycles=$(grep -o '"total_cycles": *[0-9.eE+-]*' "$f" | head -1 | sed 's/.*: *//' || true)
        bytes=$(grep -o '"external_bytes": *[0-9.eE+-]*' "$f" | head -1 | sed 's/.*: *//' || true)
        n=$(grep -c '"match":' "$f" || true)
        ok=$(grep -c '"match": *true' "$f" || true)
        rel=$(grep -o '"max_rel_error": *[0-9.eE+-]*' "$f" | sed 's/.*: *//' |
            awk 'BEGIN { m = 0 } { if ($1 + 0 > m) m = $1 + 0 } END { printf "%.3g", m }' || true)
        bad=$([[ $ok == "$n" ]] && echo "" || echo "see report")
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$cycles" "$bytes" "$n" "$ok" "$rel" "$bad"
    fi
}

# Diagnostics of a failed tool as one Markdown-safe code span: the corpus path prefix removed,
# lines joined with " / ", pipes escaped.
diagnostic() {
    local text
    text=$(sed -e "s|^$corpus/||" -e 's/[[:space:]]*$//' "$1" | grep -v '^$' | head -5 |
        awk 'NR > 1 { printf " / " } { printf "%s", $0 }' || true)
    text=${text//|/\\|}
    text=${text//\`/\'}
    # shellcheck disable=SC2016 # literal backticks: a Markdown code span
    printf '`%s`' "${text:-no message}"
}

rows=$work/rows.md
: >"$rows"
total=0 verified=0 refused=0 failed=0
while IFS=$'\t' read -r path _repo _repo_path _commit _bytes nodes operators; do
    [[ $path == local_path ]] && continue
    [[ -z $path ]] && continue
    total=$((total + 1))
    object=$work/$total.kpu
    ops=${operators//,/, }
    compile_result="ok" cycles="" bytes="" result=""
    if "$compiler" "$corpus/$path" -o "$object" "${config_args[@]}" >"$work/c.out" 2>"$work/c.err"; then
        if "$loader" "$object" --json --verify --seed "$seed" "${config_args[@]}" \
            >"$work/l.json" 2>"$work/l.err"; then
            IFS=$'\t' read -r cycles bytes n ok rel bad < <(summarize_report "$work/l.json")
            result="verified: $ok of $n outputs match, max rel error $rel"
            verified=$((verified + 1))
        else
            status=$?
            if [[ -s $work/l.json ]] && IFS=$'\t' read -r cycles bytes n ok rel bad \
                < <(summarize_report "$work/l.json" 2>/dev/null); then
                result="**MISMATCH** (exit $status): $ok of $n outputs match ($bad), max rel error $rel"
            else
                result="**run failed** (exit $status): $(diagnostic "$work/l.err")"
            fi
            failed=$((failed + 1))
        fi
    else
        status=$?
        compile_result="refused (exit $status)"
        result=$(diagnostic "$work/c.err")
        refused=$((refused + 1))
    fi
    # shellcheck disable=SC2016 # literal backticks: a Markdown code span
    printf '| %d | `%s` | %s | %s | %s | %s | %s | %s |\n' "$total" "$path" "$nodes" "$ops" \
        "$compile_result" "${cycles:--}" "${bytes:--}" "$result" >>"$rows"
done <"$corpus/MANIFEST.tsv"

{
    cat <<EOF
# Corpus status

Every file of the real \`.dfg\` corpus (\`dfg-corpus/MANIFEST.tsv\`, $total files), compiled and
run end to end. Generated by \`scripts/corpus-status.sh\` — do not edit by hand; regenerate after
changing the compiler, the loader or the simulator. For each file it ran

    kpu-kernel-compiler <file> -o <file>.kpu
    kpu-loader <file>.kpu --json --verify --seed $seed

on $config_label (the same configuration for compiling and running; inputs and constants
get seeded random values, seed $seed). "cycles" is the simulated \`total_cycles\`, "external bytes"
the bytes moved between external memory and L3; verification compares every graph output with
the reference executor (\`verify[]\` of the JSON report). Files the compiler refuses show its
diagnostic, with the corpus path removed. \`tests/e2e/corpus_e2e_test.cpp\` asserts the same
outcomes.

**$verified of $total files verified**; $refused refused by the compiler, $failed failed at run
time or verification.

| # | file | nodes | operators | compile | cycles | external bytes | verification / error |
|---|---|---|---|---|---|---|---|
EOF
    cat "$rows"
} >"$out"
echo "corpus-status: $verified of $total verified ($refused refused, $failed failed); wrote $out"
