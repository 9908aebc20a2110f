#!/usr/bin/env bash
# test_exports.sh LIB HEADER — the dynamic symbols LIB (libbatchsampler.so)
# defines must be exactly the functions HEADER (include/batchsampler.h)
# declares: an internal helper that leaks, or a declared function that is
# not exported, fails the test and is named.
set -euo pipefail
lib=$1 header=$2

# Functions declared in the header: comments removed first (they quote
# calls such as bs_graph_build(...)) and function pointer typedefs (their
# return type, `typedef bs_status (*bs_graph_builder)(...)`, is followed by
# a parenthesis), then every `bs_name (`.
declared=$(perl -0777 -ne 's{/\*.*?\*/}{}gs; s{//[^\n]*}{}g;
                          s#\btypedef[^;{]*\(\s*\*[^;]*;##gs;
                          print "$1\n" while /\b(bs_[a-z0-9_]+)\s*\(/g' "$header" |
           sort -u)
# Symbols of every kind: an exported variable would leak as much as a function.
exported=$(nm -D --defined-only "$lib" | awk '{print $3}' | sed 's/@.*//' | sort -u)

if [ -z "$declared" ] || [ -z "$exported" ]; then
    echo "test_exports: nothing parsed (declared: $(wc -w <<<"$declared"), exported: $(wc -w <<<"$exported"))" >&2
    exit 1
fi

leaked=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
status=0
if [ -n "$leaked" ]; then
    echo "exported by $(basename "$lib") but not declared in $(basename "$header"):" >&2
    echo "$leaked" | sed 's/^/  /' >&2
    status=1
fi
if [ -n "$missing" ]; then
    echo "declared in $(basename "$header") but not exported by $(basename "$lib"):" >&2
    echo "$missing" | sed 's/^/  /' >&2
    status=1
fi
[ $status -ne 0 ] || echo "test_exports: $(wc -l <<<"$exported") symbols, all declared"
exit $status
