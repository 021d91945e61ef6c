#!/usr/bin/env bash
# tests/package/test_package.sh: widgetd's Debian package, built, installed on this machine for real,
# checked, removed and purged.
#
#   1. scripts/package builds build/package/widgetd_<version>_<arch>.deb
#   2. the .deb: its control fields (version = project(VERSION), dependencies from dpkg-shlibdeps, the
#      conffile), and lintian: no error and no warning (info tags are printed, not failed on)
#   3. apt-get install ./the.deb (dependencies resolved, maintainer scripts run on the real root; a
#      `dpkg --root` chroot would run neither): every file of `dpkg -L` is there; the binary is
#      stripped; `widgetd --version` prints the package's version; `widgetd --check-config` accepts
#      the installed /etc/widgetd/widgetd.conf; `systemd-analyze verify` accepts the installed unit;
#      the man pages are found; nothing was enabled or started
#   4. an upgrade (the same package repacked as <version>+test1) keeps a local edit of the conffile
#      without asking
#   5. `systemctl enable widgetd` (offline), `dpkg -r`: the files are gone but the conffile; `dpkg -P`:
#      every path the package brought is gone, /etc/widgetd and the enablement link included
#   6. a second install, a credentials file of the operator's in /etc/widgetd, `dpkg -P`: the package's
#      files are gone, the operator's file is kept
#   Whatever happens, the package is purged and the test's own files are removed at exit (trap).
#
# Needs root, dpkg, apt-get, and a machine where widgetd is not installed (it refuses otherwise).
# Installs lintian if missing. systemd need not be running (maintainer scripts skip systemctl then).
# Prints "ok"/"FAIL" per check and ends with "N passed, N failed"; exits 1 if any check failed.
#
# Usage: tests/package/test_package.sh       (ctest: ctest --test-dir build/test -L package)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 SYSTEMD_COLORS=0 SYSTEMD_PAGER="" PAGER=cat
START=$SECONDS
PASSED=0 FAILED=0 OURS=0 TMP=""

check() { # check OK|"" WHAT [DETAIL]
  if [[ -n $1 ]]; then
    PASSED=$((PASSED + 1))
    echo "ok   $2"
  else
    FAILED=$((FAILED + 1))
    echo "FAIL $2"
    [[ -z ${3:-} ]] || printf '%s\n' "$3" | sed 's/^/     /'
  fi
}
ok_if() { "$@" > /dev/null 2>&1 && echo 1; } # ok_if CMD...: "1" when CMD succeeds
section() { echo "== $*"; }
installed() { [[ $(dpkg-query -W -f='${db:Status-Status}' widgetd 2> /dev/null) != "" &&
  $(dpkg-query -W -f='${db:Status-Status}' widgetd 2> /dev/null) != not-installed ]]; }
enable_links() { find /etc/systemd/system -path '*.wants/widgetd.service' -o -path '*.requires/widgetd.service' 2> /dev/null; }

finish() {
  local rc=$?
  ((rc == 0 || FAILED)) || check "" "the test ran to its end" "it stopped early with exit status $rc"
  if ((OURS)); then
    if installed; then
      echo "test_package: cleaning up: dpkg -P widgetd"
      dpkg -P widgetd > /dev/null 2>&1 || echo "test_package: warning: dpkg -P widgetd failed" >&2
    fi
    rm -f /etc/widgetd/aws-credentials /etc/widgetd/widgetd.conf /etc/widgetd/widgetd.conf.dpkg-*
    rmdir /etc/widgetd 2> /dev/null || true
    enable_links | xargs -r rm -f
  fi
  [[ -z $TMP ]] || rm -rf "$TMP"
  echo "test_package: $((SECONDS - START)) s"
  echo "$PASSED passed, $FAILED failed"
  if ((FAILED)); then exit 1; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM

# --- preconditions -------------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || { check "" "running as root (dpkg -i needs the real root)"; exit 1; }
for tool in dpkg dpkg-deb dpkg-query apt-get systemd-analyze file; do
  command -v "$tool" > /dev/null || { check "" "$tool is installed"; exit 1; }
done
if installed || [[ -e /etc/widgetd ]]; then
  check "" "widgetd is not installed here, and /etc/widgetd does not exist" \
    "$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' widgetd 2>&1; ls -la /etc/widgetd 2>&1)
this test installs and purges the package: remove it first (dpkg -P widgetd)"
  exit 1
fi
[[ -z $(enable_links) ]] || { check "" "no widgetd.service enablement link left in /etc/systemd/system" "$(enable_links)"; exit 1; }
if ! command -v lintian > /dev/null; then
  echo "test_package: installing lintian"
  { apt-get install -y -qq --no-install-recommends lintian ||
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends lintian; }; } > /dev/null 2>&1
  command -v lintian > /dev/null || { check "" "lintian could be installed"; exit 1; }
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/widgetd-package.XXXXXX")
chmod 0755 "$TMP" # apt's _apt user reads the .deb from here

# --- 1. build ------------------------------------------------------------------------------------------
section "build (scripts/package)"
if ! DEB_BUILT=$(bash scripts/package 2> "$TMP/package.log"); then
  tail -n 40 "$TMP/package.log"
  check "" "scripts/package builds the package"
  exit 1
fi
check 1 "scripts/package built $DEB_BUILT"
DEB=$TMP/$(basename "$DEB_BUILT")
cp "$DEB_BUILT" "$DEB" && chmod 0644 "$DEB"
VERSION=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "${WD_PACKAGE_BUILD_DIR:-build/package}/CMakeCache.txt")
ARCH=$(dpkg --print-architecture)

# --- 2. the .deb ---------------------------------------------------------------------------------------
section "the package: dpkg-deb --info, --contents"
dpkg-deb --info "$DEB"
dpkg-deb --contents "$DEB" | tee "$TMP/contents"
field() { dpkg-deb --field "$DEB" "$1"; }
check "$([[ -n $VERSION && $(field Version) == "$VERSION" ]] && echo 1)" \
  "Version is the project version ($VERSION)" "Version: $(field Version)"
check "$([[ $(basename "$DEB") == "widgetd_${VERSION}_${ARCH}.deb" ]] && echo 1)" "file name widgetd_${VERSION}_${ARCH}.deb"
check "$([[ $(field Architecture) == "$ARCH" ]] && echo 1)" "Architecture is dpkg's ($ARCH)"
deps=$(field Depends)
missing_deps=""
for lib in libc6 libcurl4 libssl3 libjansson4 libsystemd0 libinih1 libexpat1 ca-certificates procps; do
  [[ $deps =~ (^|, )$lib( |,|$) ]] || missing_deps+=" $lib"
done
check "$([[ -z $missing_deps ]] && echo 1)" "Depends has the shared libraries (dpkg-shlibdeps), ca-certificates, procps" \
  "Depends: $deps; missing:$missing_deps"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles > "$TMP/conffiles" 2> /dev/null
check "$([[ $(cat "$TMP/conffiles") == /etc/widgetd/widgetd.conf ]] && echo 1)" \
  "conffiles lists /etc/widgetd/widgetd.conf" "$(cat "$TMP/conffiles")"
for p in ./usr/bin/widgetd ./etc/widgetd/widgetd.conf ./lib/systemd/system/widgetd.service \
  ./usr/share/man/man8/widgetd.8.gz ./usr/share/man/man5/widgetd.conf.5.gz \
  ./usr/share/doc/widgetd/copyright ./usr/share/doc/widgetd/changelog.gz ./usr/share/doc/widgetd/README.md.gz; do
  check "$(awk '{print $6}' "$TMP/contents" | grep -qxF "$p" && echo 1)" "the package holds ${p#.}"
done
bad_owner=$(awk '$2 != "root/root"' "$TMP/contents")
check "$([[ -z $bad_owner ]] && echo 1)" "every file is root/root" "$bad_owner"

section "lintian"
lintian --fail-on error --display-info --pedantic "$DEB" > "$TMP/lintian" 2>&1
lintian_rc=$?
grep -v '^running with root privileges' "$TMP/lintian"
check "$([[ $lintian_rc == 0 ]] && ! grep -q '^E: ' "$TMP/lintian" && echo 1)" "lintian: no error" "exit $lintian_rc"
check "$(! grep -q '^W: ' "$TMP/lintian" && echo 1)" "lintian: no warning" "$(grep '^W: ' "$TMP/lintian")"

# Every path the package would bring: existing now (a directory shared with other packages) or not.
awk '{print $6}' "$TMP/contents" | sed 's|^\./|/|; s|/$||; /^$/d' | sort -u > "$TMP/paths"
: > "$TMP/new-paths"
while read -r p; do
  [[ -e $p || -L $p ]] || echo "$p" >> "$TMP/new-paths"
done < "$TMP/paths"

# --- 3. install ----------------------------------------------------------------------------------------
section "install: apt-get install $DEB"
OURS=1
apt-get install -y --no-install-recommends "$DEB" < /dev/null > "$TMP/install.log" 2>&1
install_rc=$?
cat "$TMP/install.log"
check "$([[ $install_rc == 0 ]] && echo 1)" "apt-get install ./$(basename "$DEB") succeeds"
check "$([[ $(dpkg-query -W -f='${db:Status-Abbrev}${Version}' widgetd 2> /dev/null) == "ii ${VERSION}" ]] && echo 1)" \
  "dpkg: widgetd $VERSION installed" "$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' widgetd 2>&1)"
check "$(grep -q 'systemctl enable --now widgetd' "$TMP/install.log" && echo 1)" \
  "postinst says how to start the service"
section "dpkg -L widgetd"
dpkg -L widgetd | tee "$TMP/dpkg-L"
absent=$(while read -r p; do [[ -e $p ]] || echo "$p"; done < "$TMP/dpkg-L")
check "$([[ -s $TMP/dpkg-L && -z $absent ]] && echo 1)" "every path of dpkg -L exists" "$absent"

version_out=$(/usr/bin/widgetd --version 2>&1)
check "$([[ $version_out == "widgetd $VERSION" ]] && echo 1)" "widgetd --version prints 'widgetd $VERSION'" "$version_out"
file_out=$(file -L /usr/bin/widgetd)
check "$([[ $file_out == *", stripped"* ]] && echo 1)" "/usr/bin/widgetd is stripped" "$file_out"
check "$([[ $(stat -c '%a %U' /etc/widgetd/widgetd.conf) == "644 root" ]] && echo 1)" \
  "/etc/widgetd/widgetd.conf is 0644 root (read by the service's dynamic user)"
check "$(cmp -s /etc/widgetd/widgetd.conf conf/widgetd.conf && echo 1)" "the installed config is conf/widgetd.conf"
check "$(cmp -s /lib/systemd/system/widgetd.service systemd/widgetd.service && echo 1)" \
  "the installed unit is systemd/widgetd.service"
check "$(zcat /usr/share/doc/widgetd/README.md.gz | cmp -s - README.md && echo 1)" "the installed README is README.md"
cc_out=$(/usr/bin/widgetd --check-config -c /etc/widgetd/widgetd.conf 2>&1)
cc_rc=$?
check "$([[ $cc_rc == 0 && $cc_out == *"configuration OK"* ]] && echo 1)" \
  "widgetd --check-config -c /etc/widgetd/widgetd.conf: configuration OK, exit 0" "exit $cc_rc: $cc_out"
n_out=$(/usr/bin/widgetd -n 2>&1)
n_rc=$?
check "$([[ $n_rc == 0 && $n_out == *"configuration OK"* ]] && echo 1)" "widgetd -n (the default file): configuration OK" "$n_out"
verify_out=$(systemd-analyze verify --man=no /lib/systemd/system/widgetd.service 2>&1)
verify_rc=$?
check "$([[ $verify_rc == 0 && -z $verify_out ]] && echo 1)" \
  "systemd-analyze verify --man=no /lib/systemd/system/widgetd.service: clean" "exit $verify_rc: $verify_out"
if command -v man > /dev/null; then
  check "$(ok_if man -w 8 widgetd)" "man finds widgetd(8): $(man -w 8 widgetd 2> /dev/null)"
  check "$(ok_if man -w 5 widgetd.conf)" "man finds widgetd.conf(5): $(man -w 5 widgetd.conf 2> /dev/null)"
fi
enabled=$(SYSTEMD_OFFLINE=1 systemctl is-enabled widgetd.service 2>&1)
check "$([[ $enabled == disabled && -z $(enable_links) ]] && echo 1)" \
  "the install enabled nothing (systemctl is-enabled: $enabled)" "$(enable_links)"
if [[ -d /run/systemd/system ]]; then
  active=$(systemctl is-active widgetd.service 2>&1)
  check "$([[ $active != active ]] && echo 1)" "the install started nothing (systemctl is-active: $active)"
else
  echo "     (systemd is not running here: postinst skipped systemctl, as it must)"
fi

# --- 4. upgrade with a local edit of the conffile ------------------------------------------------------
section "upgrade to ${VERSION}+test1 with a local edit of /etc/widgetd/widgetd.conf"
echo "# local edit by test_package" >> /etc/widgetd/widgetd.conf
dpkg-deb --raw-extract "$DEB" "$TMP/repack" &&
  sed -i "s/^Version: .*/Version: ${VERSION}+test1/" "$TMP/repack/DEBIAN/control" &&
  dpkg-deb --root-owner-group --build "$TMP/repack" "$TMP/upgrade.deb" > /dev/null
dpkg -i "$TMP/upgrade.deb" < /dev/null > "$TMP/upgrade.log" 2>&1
upgrade_rc=$?
cat "$TMP/upgrade.log"
check "$([[ $upgrade_rc == 0 && $(dpkg-query -W -f='${Version}' widgetd) == "${VERSION}+test1" ]] && echo 1)" \
  "dpkg -i upgrades to ${VERSION}+test1 without a question"
check "$(grep -qx '# local edit by test_package' /etc/widgetd/widgetd.conf && echo 1)" "the local edit survived the upgrade"
leftover=$(ls /etc/widgetd/widgetd.conf.dpkg-* 2> /dev/null)
check "$([[ -z $leftover ]] && echo 1)" "no .dpkg-dist/.dpkg-old copy (the shipped file did not change)" "$leftover"
check "$(! grep -q 'systemctl enable --now' "$TMP/upgrade.log" && echo 1)" "an upgrade does not repeat the first-install message"

# --- 5. remove, then purge -----------------------------------------------------------------------------
section "systemctl enable (offline), dpkg -r widgetd, dpkg -P widgetd"
SYSTEMD_OFFLINE=1 systemctl enable widgetd.service 2>&1
check "$([[ -n $(enable_links) ]] && echo 1)" "systemctl enable widgetd linked the unit: $(enable_links)"
dpkg -r widgetd > "$TMP/remove.log" 2>&1
remove_rc=$?
cat "$TMP/remove.log"
check "$([[ $remove_rc == 0 && $(dpkg-query -W -f='${db:Status-Abbrev}' widgetd) == "rc " ]] && echo 1)" \
  "dpkg -r: removed, configuration kept (rc)" "$(dpkg-query -W -f='${db:Status-Abbrev}' widgetd 2>&1)"
left=$(while read -r p; do
  [[ $p == /etc/widgetd || $p == /etc/widgetd/widgetd.conf ]] && continue
  [[ -e $p ]] && grep -qxF "$p" "$TMP/new-paths" && echo "$p"
done < "$TMP/paths")
check "$([[ -z $left && ! -e /usr/bin/widgetd && ! -e /lib/systemd/system/widgetd.service ]] && echo 1)" \
  "dpkg -r: every file is gone but the conffile" "$left"
check "$(grep -qx '# local edit by test_package' /etc/widgetd/widgetd.conf 2> /dev/null && echo 1)" \
  "dpkg -r: the edited conffile is kept"
dpkg -P widgetd > "$TMP/purge.log" 2>&1
purge_rc=$?
cat "$TMP/purge.log"
check "$([[ $purge_rc == 0 ]] && ! installed && echo 1)" "dpkg -P: purged (dpkg no longer knows widgetd)" \
  "$(dpkg-query -W -f='${db:Status-Abbrev} ${Version}' widgetd 2>&1)"
echo "   paths the package brought, after the purge:"
left=""
while read -r p; do
  if [[ -e $p || -L $p ]]; then
    if grep -qxF "$p" "$TMP/new-paths"; then
      left+="$p"$'\n'
      echo "     LEFT    $p"
    else
      echo "     shared  $p (existed before the install)"
    fi
  else
    echo "     gone    $p"
  fi
done < "$TMP/paths"
check "$([[ -z $left ]] && echo 1)" "dpkg -P: nothing the package brought is left" "$left"
check "$([[ ! -e /etc/widgetd ]] && echo 1)" "dpkg -P: /etc/widgetd is gone"
check "$([[ -z $(enable_links) ]] && echo 1)" "dpkg -P: the enablement link is gone" "$(enable_links)"
dpkg_info=$(ls /var/lib/dpkg/info/widgetd.* 2> /dev/null)
check "$([[ -z $dpkg_info ]] && echo 1)" "dpkg -P: no /var/lib/dpkg/info/widgetd.* left" "$dpkg_info"

# --- 6. purge keeps a file the operator put in /etc/widgetd -------------------------------------------
section "purge with an operator's file in /etc/widgetd"
apt-get install -y --no-install-recommends "$DEB" < /dev/null > "$TMP/install2.log" 2>&1
install_rc=$?
check "$([[ $install_rc == 0 ]] && echo 1)" "apt-get install again" "$(tail -n 20 "$TMP/install2.log")"
install -m 0600 /dev/null /etc/widgetd/aws-credentials
printf '[default]\naws_access_key_id = AKIDTEST\naws_secret_access_key = test\n' > /etc/widgetd/aws-credentials
dpkg -P widgetd > "$TMP/purge2.log" 2>&1
purge_rc=$?
cat "$TMP/purge2.log"
check "$([[ $purge_rc == 0 ]] && ! installed && echo 1)" "dpkg -P from installed: purged"
check "$([[ -f /etc/widgetd/aws-credentials && $(ls -A /etc/widgetd) == aws-credentials ]] && echo 1)" \
  "dpkg -P: the operator's /etc/widgetd/aws-credentials is kept, and only it" "$(ls -la /etc/widgetd 2>&1)"
check "$(grep -q 'kept /etc/widgetd' "$TMP/purge2.log" && echo 1)" "dpkg -P: postrm says it kept /etc/widgetd and why"
rm -f /etc/widgetd/aws-credentials && rmdir /etc/widgetd
