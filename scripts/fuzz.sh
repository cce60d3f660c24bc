#!/usr/bin/env bash
# Runs every Fuzz* target in the module, one at a time (go test -fuzz takes one
# target per run), for FUZZ_TIME each: a count such as 300x in `make test`, a
# duration in `make fuzz`.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FUZZ_TIME:=300x}"
n=0
while IFS= read -r line; do
	file=${line%%:*}
	name=$(sed -E 's/^func (Fuzz[A-Za-z0-9_]*).*/\1/' <<<"${line#*:}")
	pkg=./$(dirname "$file")
	echo "fuzz: $pkg $name ($FUZZ_TIME)"
	go test -run='^$' -fuzz="^${name}\$" -fuzztime="$FUZZ_TIME" -fuzzminimizetime=0x "$pkg"
	n=$((n + 1))
done < <(grep -rE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | grep -v '/_' | sort)
echo "fuzz: $n targets ran"
[ "$n" -gt 0 ] || { echo "fuzz: no fuzz targets found" >&2; exit 1; }
