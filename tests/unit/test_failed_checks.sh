#!/usr/bin/env bash
# scripts/failed-checks on a made-up ctest log: it must repeat each failed check with its detail lines
# (and only those), cmocka's and the sanitizers' failure lines, each under its test's name; and say so,
# exiting 1, when the log holds no failure. (A failure it missed would vanish from CI's cut log.)
set -euo pipefail
src=${1:?usage: test_failed_checks.sh SOURCE_DIR}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat > "$dir/log" <<'LOG'
30/57 Testing: system_test_daemon
Output:
ok   - [watchdog] READY=1
FAIL - [idle-backoff] the waits grow to the cap
  gaps [0.1, 0.2]
# idle: 7 LISTs
ok   - [idle-backoff] a passing check
31/57 Testing: test_sigv4
[  FAILED  ] 1 test(s), listed below:
lib/x.c:3:5: runtime error: signed integer overflow
==123==ERROR: LeakSanitizer: detected memory leaks
LOG
out=$(bash "$src/scripts/failed-checks" "$dir/log")
want='failed-checks: == what failed (from '"$dir"'/log)
system_test_daemon: FAIL - [idle-backoff] the waits grow to the cap
system_test_daemon:     gaps [0.1, 0.2]
test_sigv4: [  FAILED  ] 1 test(s), listed below:
test_sigv4: lib/x.c:3:5: runtime error: signed integer overflow
test_sigv4: ==123==ERROR: LeakSanitizer: detected memory leaks'
if [[ $out != "$want" ]]; then
  printf 'FAIL - failed checks of a failing log\n--- got:\n%s\n--- want:\n%s\n' "$out" "$want"
  exit 1
fi
echo "ok   - a failing log: each failure once, with its detail lines, under its test's name"
{ echo "1/1 Testing: test_x"; for i in $(seq 1 30); do printf 'FAIL - check %d\n  detail\n' "$i"; done; } > "$dir/log"
out=$(bash "$src/scripts/failed-checks" "$dir/log") || { printf 'FAIL - a long log: exit %d\n' $?; exit 1; }
if [[ $(grep -c '^test_x: ' <<<"$out") != 40 || $(tail -n 1 <<<"$out") != "failed-checks: (more in the log)" ]]; then
  printf 'FAIL - a long log: want 40 lines and a last line saying there is more, got:\n%s\n' "$out"
  exit 1
fi
echo "ok   - a long log: 40 lines, then a line saying there is more, exit 0"
printf '1/1 Testing: test_x\nok   - a\n' > "$dir/log"
if out=$(bash "$src/scripts/failed-checks" "$dir/log"); then
  printf 'FAIL - a passing log: exit 0 (want 1)\n%s\n' "$out"
  exit 1
fi
[[ $out == *"no failed check in the log"* ]] || { printf 'FAIL - a passing log: %s\n' "$out"; exit 1; }
echo "ok   - a passing log: says there is no failed check, exits 1"
