#!/bin/bash
# The Debian package: dpkg-buildpackage builds it from a copy of this tree,
# lintian has nothing to say, and installed into a clean root (an overlay of
# this machine's root in a private mount namespace, thrown away at the end)
# its postinst creates the API groups, its unit passes systemd-analyze verify
# and loomd from it serves loomctl.
. "$(dirname "$0")/lib.sh"
t_plan 9

for tool in dpkg-buildpackage lintian fakeroot dh unshare systemd-analyze; do
	command -v "$tool" >/dev/null || { echo "# $tool is missing: run tools/install-deps"; exit 1; }
done

SRC=$T_DIR/src/loom
mkdir -p "$SRC"
# The tree as a user has it: sources only, none of the developer's builds
# (git's list where there is one, else everything but the usual build dirs).
if git -C "$top_srcdir" rev-parse --git-dir >/dev/null 2>&1; then
	(cd "$top_srcdir" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -)
else
	tar -C "$top_srcdir" --exclude=./build --exclude=./autom4te.cache -cf - .
fi | tar -C "$SRC" -xf -
(cd "$SRC" && DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
	dpkg-buildpackage -us -uc -b) >"$T_DIR/build.log" 2>&1
t_is "$?" "0" "dpkg-buildpackage -us -uc -b builds the package"
DEB=$(ls "$T_DIR"/src/loom_*_*.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || { tail -n 30 "$T_DIR/build.log" | sed 's/^/#   /'; exit 1; }

want="./etc/loom/loomd.conf ./usr/bin/loom-rdma-bw ./usr/bin/loomctl ./usr/lib/systemd/system/loomd.service ./usr/sbin/loomd ./usr/share/man/man1/loom-rdma-bw.1.gz ./usr/share/man/man8/loomctl.8.gz ./usr/share/man/man8/loomd.8.gz"
have=$(dpkg-deb -c "$DEB" | awk '{print $6}' | grep -v '/$' | sort | tr '\n' ' ')
missing=""
for f in $want; do case " $have " in *" $f "*) ;; *) missing="$missing $f" ;; esac; done
t_is "$missing" "" "the package holds loomd, loomctl, loom-rdma-bw, their man pages, the unit and the config"
t_is "$(dpkg-deb -f "$DEB" Package)" "loom" "  ...as package loom"
dpkg-deb -e "$DEB" "$T_DIR/ctl"
grep -qx /etc/loom/loomd.conf "$T_DIR/ctl/conffiles"
t_ok $? "  ...with /etc/loom/loomd.conf a conffile"

lintian --fail-on error,warning "$T_DIR"/src/loom_*.changes >"$T_DIR/lintian.log" 2>&1
rc=$?
t_is "$rc" "0" "lintian reports no error or warning"
[ "$rc" = 0 ] || sed 's/^/#   /' "$T_DIR/lintian.log"

# The clean root.  Everything below runs in a mount namespace of its own:
# the overlay, its writes and the groups postinst adds vanish with it.
cp "$DEB" "$T_DIR/loom.deb"
cp "$top_srcdir/tests/integration/data/topo-api.json" "$T_DIR/topology.json"
cat >"$T_DIR/inside.sh" <<'INSIDE'
#!/bin/bash
# Runs inside the chroot; prints one KEY=VALUE line per finding.
mount -t proc proc /proc
dpkg -i /pkgtest/loom.deb >/pkgtest/dpkg.log 2>&1; echo "dpkg=$?"
for g in loom-admin loom-read; do getent group "$g" >/dev/null && echo "group_$g=yes"; done
systemd-analyze verify /usr/lib/systemd/system/loomd.service >/pkgtest/verify.log 2>&1; echo "verify=$?"
mkdir -p /run/loomtest
cat >/run/loomtest/loomd.conf <<CONF
socket = /run/loomtest/loomd.sock
database = /run/loomtest/loom.db
topology = /pkgtest/topology.json
reconcile = no
CONF
/usr/sbin/loomd -f -c /run/loomtest/loomd.conf 2>/pkgtest/loomd.log &
pid=$!
for _ in $(seq 100); do [ -S /run/loomtest/loomd.sock ] && break; sleep 0.1; done
LOOM_SOCKET=/run/loomtest/loomd.sock /usr/bin/loomctl -o json info >/pkgtest/info.json 2>&1; echo "info=$?"
kill -TERM "$pid"; wait "$pid"; echo "loomd_exit=$?"
INSIDE
chmod +x "$T_DIR/inside.sh"
unshare -m --propagation private bash -c '
	set -e
	r='"$T_DIR"'/root
	mkdir -p "$r"
	mount -t tmpfs pkgroot "$r"
	mkdir -p "$r/upper" "$r/work" "$r/merged"
	mount -t overlay pkgroot -o lowerdir=/,upperdir="$r/upper",workdir="$r/work" "$r/merged"
	mkdir -p "$r/merged/pkgtest" "$r/merged/run"
	mount --bind '"$T_DIR"' "$r/merged/pkgtest"
	mount -t tmpfs run "$r/merged/run"
	mount --rbind /dev "$r/merged/dev"
	chroot "$r/merged" /pkgtest/inside.sh
' >"$T_DIR/inside.out" 2>&1
sed 's/^/# inside: /' "$T_DIR/inside.out"
val() { sed -n "s/^$1=//p" "$T_DIR/inside.out" | tail -1; }
t_is "$(val dpkg)" "0" "dpkg -i installs it in a clean root"
t_is "$(val group_loom-admin)/$(val group_loom-read)" "yes/yes" "  ...and postinst creates the groups loom-admin and loom-read"
t_is "$(val verify)" "0" "  ...and the installed loomd.service passes systemd-analyze verify"
[ "$(val verify)" = 0 ] || sed 's/^/#   /' "$T_DIR/verify.log"
ok=1
[ "$(val info)" = 0 ] && jq -e '.version' "$T_DIR/info.json" >/dev/null && [ "$(val loomd_exit)" = 0 ] && ok=0
t_ok "$ok" "  ...and loomd from the package serves loomctl info, and stops on SIGTERM"
[ "$ok" = 0 ] || { sed 's/^/#   /' "$T_DIR/info.json" "$T_DIR/loomd.log"; }
getent group loom-admin >/dev/null && echo "# note: this machine has a loom-admin group of its own"
exit 0
