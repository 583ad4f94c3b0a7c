# Sourced by the nats.js test wrappers (tests/gateway/run_nats_js.sh,
# tests/control/run_nats_js.sh): copies the pinned package and the
# *.test.js / *.test.mjs files from SOURCE_DIR into WORK_DIR in the build directory
# (never installing into the source tree), runs `npm ci` there when the
# lock file changed, and checks nats.js loads. The caller defines die().
# Fails, never skips: scripts/deps.sh provides node and npm, and the npm
# registry is part of the test set-up like Debian's packages are.
nats_js_setup() {
	local src=$1 work=$2 name=$3 stamp sum ok try t

	for t in node npm; do
		command -v "$t" >/dev/null 2>&1 || die "'$t' not found: run scripts/deps.sh"
	done
	mkdir -p "$work" || die "cannot create $work"
	cp "$src/package.json" "$src/package-lock.json" "$src"/*.test.* "$work/" ||
		die "cannot copy the tests"
	# helpers the tests share (lib_*.js), where a directory has them
	for f in "$src"/lib_*.js; do
		[ -e "$f" ] || continue
		cp "$f" "$work/" || die "cannot copy $f"
	done
	stamp="$work/node_modules/.lw-lock-sha"
	sum=$(sha256sum "$src/package-lock.json" | cut -d' ' -f1)
	if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ] ||
	   [ ! -f "$work/node_modules/nats/package.json" ]; then
		# npm ci installs exactly the lock file; a few tries ride out a
		# slow registry, but a failure in the end fails the test.
		ok=0
		for try in 1 2 3; do
			if (cd "$work" && npm ci --no-audit --no-fund --loglevel=error); then
				ok=1
				break
			fi
			echo "$name: npm ci failed (try $try)" >&2
			sleep 2
		done
		[ "$ok" -eq 1 ] || die "npm ci failed: cannot install nats.js"
		echo "$sum" >"$stamp"
	fi
	node -e 'require(process.argv[1])' "$work/node_modules/nats" || die "nats.js does not load"
}
