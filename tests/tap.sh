# shellcheck shell=bash
# TAP-style helpers of the shell tests (sourced): ok/bad count results,
# check runs a command as an assertion, exits checks an exit status (its
# output left in $tmp/out and $tmp/err), tap_end prints the tally and
# returns non-zero when anything failed. The caller sets $tmp first.
pass=0; fail=0
ok()   { pass=$((pass + 1)); echo "ok   - $*"; }
bad()  { fail=$((fail + 1)); echo "FAIL - $*"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
# exits WHAT CODE CMD...: CMD exits with CODE.
exits() {
	local what=$1 want=$2; shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	if [ "$rc" -eq "$want" ]; then ok "$what"; else bad "$what (exit $rc, want $want)"; cat "$tmp/err"; fi
}
tap_end() { echo "# $pass passed, $fail failed"; [ "$fail" -eq 0 ]; }
