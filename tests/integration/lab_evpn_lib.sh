# tests/integration/lab_evpn_lib.sh: shared by lab_evpn.sh and
# lab_evpn_crash.sh (sourced after lib.sh).
#
# Builds a private copy of the lab (lab/loom-lab, prefix $P), starts loomd
# on its topology with the reconciler on and the periodic resync pushed out
# to an hour (so every repair the tests see comes from events), and reads
# back what the machine holds: loom's bridges and VXLAN devices with their
# ports (ip -d -j link), loom's `vni` blocks in FRR's running-config, and
# what BGP says about each VNI.  The tests compare that with the model they
# keep themselves (which segments exist, which nodes they hold), not with
# what loomd says it wants.

# shellcheck disable=SC2154  # set by lib.sh
LAB=$top_srcdir/lab/loom-lab
LOOM_GROUP=1819242349	# netdev group "loom" (docs/overlay.md)
LAB_DIR=$T_DIR/lab

lab_down() { "$LAB" -p "$P" -d "$LAB_DIR" down >/dev/null 2>&1; }

lab_up() {	# lab_up: the lab, torn down by the EXIT trap
	t_cleanup_add lab_down
	"$LAB" -p "$P" -d "$LAB_DIR" up >"$T_DIR/lab-up.log" 2>&1
}

vt_ns() { echo "$P-vt$1"; }
vty() { echo "/var/run/frr/$P-vt$1"; }
ctl() { "$LOOMCTL" "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# loomd under the lab's topology (or the one given).
lab_loomd() {	# lab_loomd [TOPOLOGY [EXTRA CONF LINES...]]
	local topo=${1:-$LAB_DIR/topology.json}
	[ $# -gt 0 ] && shift
	loomd_config "$topo" "reconcile = yes" "resync_interval = 3600" \
		"vni_range = 10000-10999" "$@"
	loomd_start
}

# ---- the model the test keeps ------------------------------------------
# SEGS[tenant/segment] = "node node ..." (nodes hVH or any node of the
# topology); NODE_VTEP / NODE_PORT say where a node's port is.
declare -A SEGS NODE_VTEP NODE_PORT VNI_OF RD_OF RT_OF
for _v in 1 2 3; do
	for _h in 1 2; do
		NODE_VTEP[h$_v$_h]=$_v
		NODE_PORT[h$_v$_h]=acc-h$_v$_h
	done
done

# Reads the VNI, RD and RT loomd allocated for a segment.
seg_ids() {	# seg_ids TENANT/SEG
	local j
	j=$(ctl -o json segment show "$1") || return 1
	VNI_OF[$1]=$(jq -r .vni <<<"$j")
	RD_OF[$1]=$(jq -r .rd <<<"$j")
	RT_OF[$1]=$(jq -r .rt <<<"$j")
}

# What VTEP v must hold in the kernel: "VNI=loom:tenant/seg:port,port"
# sorted.  Without a fork per segment: the crash test has a hundred.
want_kernel() {	# want_kernel V
	local s n ports
	for s in "${!SEGS[@]}"; do
		ports=()
		for n in ${SEGS[$s]}; do
			[ "${NODE_VTEP[$n]}" = "$1" ] && ports+=("${NODE_PORT[$n]}")
		done
		[ ${#ports[@]} -gt 0 ] || continue
		[ ${#ports[@]} -gt 1 ] && mapfile -t ports < <(printf '%s\n' "${ports[@]}" | sort)
		echo "${VNI_OF[$s]}=loom:$s:$(IFS=,; echo "${ports[*]}")"
	done | sort | paste -sd' '
}

# What VTEP v must hold in FRR: "VNI rd=RD imp=RT exp=RT" sorted.
want_frr() {	# want_frr V
	local s n
	for s in "${!SEGS[@]}"; do
		for n in ${SEGS[$s]}; do
			if [ "${NODE_VTEP[$n]}" = "$1" ]; then
				echo "${VNI_OF[$s]} rd=${RD_OF[$s]} imp=${RT_OF[$s]} exp=${RT_OF[$s]}"
				break
			fi
		done
	done | sort | paste -sd' '
}

# ---- what the machine holds ----------------------------------------------
# Every loom device (netdev group "loom" or alias "loom:") of VTEP v, as
# "VNI=ALIAS:port,port" per bridge lbVNI that has its lxVNI (right VNI,
# enslaved to it, both up, same alias) and whose ports are up; anything else
# of loom's shows as "orphan:NAME" or "broken:NAME".
#
# In vlan-aware mode (LAB_MODE=vlan-aware; tests/vm/vm_evpn.sh) the same
# string comes from the one bridge lbv: per loom VXLAN device lxVNI in lbv
# (right VNI, up, in exactly one VLAN as PVID untagged), the ports in lbv
# whose only VLAN is that one (loom's 802.1Q sub-interfaces of a shared
# port among them); a port of lbv in no loom VLAN shows as
# "stray:NAME", a loom device other than lbv and lxN as "orphan:NAME".
have_kernel() {	# have_kernel V
	[ "${LAB_MODE:-traditional}" = vlan-aware ] && { have_kernel_vlan "$1"; return; }
	ip -n "$(vt_ns "$1")" -d -j link show | jq -r --arg g "$LOOM_GROUP" '
		def up: (.flags // []) | any(. == "UP");
		. as $all
		| [.[] | select(.group == $g or ((.ifalias // "") | startswith("loom:")))] as $l
		| [$l[] | select(.linkinfo.info_kind == "bridge") | . as $b
		   | ($b.ifname | ltrimstr("lb")) as $n
		   | [$l[] | select(.ifname == "lx" + $n and .linkinfo.info_kind == "vxlan"
			and .linkinfo.info_data.id == ($n | tonumber? // -1) and .master == $b.ifname
			and up and .ifalias == $b.ifalias)] as $vx
		   | [$all[] | select(.master == $b.ifname and .ifname != "lx" + $n)] as $ports
		   | if ($vx | length) == 1 and ($b | up) and ($ports | all(up))
		     then "\($n)=\($b.ifalias):" + ([$ports[].ifname] | sort | join(","))
		     else "broken:\($b.ifname)" end]
		+ [$l[] | select(.linkinfo.info_kind != "bridge")
		   | select((.ifname | startswith("lx") | not) or .master == null
			or (.master | ltrimstr("lb")) != (.ifname | ltrimstr("lx")))
		   | "orphan:\(.ifname)"]
		| sort | join(" ")'
}

have_kernel_vlan() {	# have_kernel_vlan V
	local ns
	ns=$(vt_ns "$1")
	jq -rn --arg g "$LOOM_GROUP" --argjson links "$(ip -n "$ns" -d -j link show)" \
		--argjson vl "$(bridge -n "$ns" -j vlan show)" '
		def up: (.flags // []) | any(. == "UP");
		def vlanof($n): [$vl[] | select(.ifname == $n) | .vlans[]] as $v
			| if ($v | length) == 1 and (($v[0].flags // []) | any(. == "PVID"))
				and (($v[0].flags // []) | any(. == "Egress Untagged"))
			  then $v[0].vlan else -1 end;
		def loom: .group == $g or ((.ifalias // "") | startswith("loom:"));
		[$links[] | select(loom)] as $l
		| [$l[] | select(.ifname == "lbv" and .linkinfo.info_kind == "bridge" and up
			and .linkinfo.info_data.vlan_filtering == 1)] as $br
		| [$l[] | select(.linkinfo.info_kind == "vxlan") | vlanof(.ifname)] as $vids
		| [$l[] | select(.linkinfo.info_kind == "vxlan") | . as $x
		   | ($x.ifname | ltrimstr("lx")) as $n | vlanof($x.ifname) as $vid
		   | [$links[] | select(.master == "lbv" and ((loom | not) or .linkinfo.info_kind == "vlan")
			and vlanof(.ifname) == $vid)] as $ports
		   | if ($br | length) == 1 and $x.master == "lbv" and ($x | up) and $vid > 0
			and $x.linkinfo.info_data.id == ($n | tonumber? // -1) and ($ports | all(up))
		     then "\($n)=\($x.ifalias):" + ([$ports[].ifname] | sort | join(","))
		     else "broken:\($x.ifname)" end]
		+ [$links[] | select(.master == "lbv" and (loom | not)) | vlanof(.ifname) as $v
		   | select($v < 0 or ($vids | any(. == $v) | not)) | "stray:\(.ifname)"]
		+ [$l[] | select(.linkinfo.info_kind != "vxlan" and .ifname != "lbv"
			and (.linkinfo.info_kind != "vlan" or .master != "lbv")) | "orphan:\(.ifname)"]
		| sort | join(" ")'
}

# One vtysh call to bgpd per look (vtysh costs ~0.1 s each): loom's `vni`
# blocks under address-family l2vpn evpn from the running-config, as
# "VNI rd=RD imp=RT[,RT] exp=RT[,RT]" sorted, into FRR_HAVE; what BGP says
# about every VNI (JSON) into FRR_JSON.
frr_read() {	# frr_read V
	local out
	out=$(vtysh --vty_socket "$(vty "$1")" -d bgpd -c 'show running-config' \
		-c 'show bgp l2vpn evpn vni json' 2>/dev/null)
	FRR_JSON=$(sed -n '/^{/,$p' <<<"$out")
	FRR_HAVE=$(sed '/^{/,$d' <<<"$out" | awk '
		/^ address-family l2vpn evpn/ { af = 1; next }
		/^ exit-address-family/ { af = 0; next }
		!af { next }
		/^  vni / { vni = $2; rd = ""; im = ""; ex = ""; next }
		/^   rd / { rd = $2; next }
		/^   route-target import / { im = im (im ? "," : "") $3; next }
		/^   route-target export / { ex = ex (ex ? "," : "") $3; next }
		/^  exit-vni/ { print vni " rd=" rd " imp=" im " exp=" ex }
	' | sort | paste -sd' ')
}
have_frr() { frr_read "$1"; echo "$FRR_HAVE"; }

# After frr_read: every VNI of the model on VTEP v is known to BGP with its
# VXLAN device (zebra saw the kernel's device: inKernel True).
frr_in_kernel() {	# frr_in_kernel V
	local vnis j=${FRR_JSON:-}
	[ -n "$j" ] || j='{}'
	vnis=$(want_frr "$1" | grep -o '[0-9]* rd=' | cut -d' ' -f1 | jq -R . | jq -sc .)
	jq -e --argjson v "$vnis" '. as $j | all($v[]; $j[.].inKernel == "True")' <<<"$j" >/dev/null 2>&1
}

# The whole machine matches the model (all three VTEPs, both layers).
# MO_WHY says what differed last (for diagnostics).
machine_ok() {
	local v
	for v in 1 2 3; do
		MO_WHY="vt$v kernel"
		[ "$(have_kernel $v)" = "$(want_kernel $v)" ] || return 1
		frr_read $v
		MO_WHY="vt$v frr config"
		[ "$FRR_HAVE" = "$(want_frr $v)" ] || return 1
		MO_WHY="vt$v frr inKernel"
		frr_in_kernel $v || return 1
	done
	MO_WHY=""
}
MO_WHY=""
# Polls machine_ok; says in the log what kept it from matching, and when.
machine_wait() {	# machine_wait SECONDS
	local t0 w=""
	t0=$(now_ms)
	while ! machine_ok; do
		[ "$MO_WHY" != "$w" ] && w=$MO_WHY && t_diag "$(($(now_ms) - t0)) ms: $w differs"
		[ $(($(now_ms) - t0)) -ge $(($1 * 1000)) ] && return 1
		sleep 0.05
	done
}

# Prints the differences (after a failed machine_ok).
machine_diag() {
	local v
	for v in 1 2 3; do
		t_diag "vt$v kernel have: $(have_kernel $v)"
		t_diag "vt$v kernel want: $(want_kernel $v)"
		t_diag "vt$v frr have: $(have_frr $v)"
		t_diag "vt$v frr want: $(want_frr $v)"
	done
}

# loomd's status: every item programmed, no target error, and one kernel
# and one frr item per (segment, VTEP) pair of the model.
status_ok() {
	local want=0 s v n j
	for s in "${!SEGS[@]}"; do
		for v in 1 2 3; do
			for n in ${SEGS[$s]}; do
				if [ "${NODE_VTEP[$n]}" = "$v" ]; then want=$((want + 2)); break; fi
			done
		done
	done
	j=$(ctl -o json status) || return 1
	jq -e --argjson want "$want" '(.segments | length) == $want
		and all(.segments[]; .state == "programmed")
		and all(.targets[]; .error == "" and (.busy | not))' <<<"$j" >/dev/null
}

# `segment show` agrees: programmed on every VTEP its nodes are behind.
segment_show_ok() {	# segment_show_ok TENANT/SEG
	local j
	j=$(ctl -o json segment show "$1") || return 1
	jq -e '(.status | length) > 0 and all(.status[]; .state == "programmed")' <<<"$j" >/dev/null
}

# t_ok that also returns the result, for `|| diagnostics`.
t_okd() { t_ok "$1" "$2"; [ "$1" -eq 0 ]; }

# Whether host A reaches address B (one ping; -W short).
reach() { ip netns exec "$P-$1" ping -c1 -W0.5 -q "$2" >/dev/null 2>&1; }
# Polls until A reaches B (the first ping across VTEPs waits for ARP/EVPN).
reaches() { t_wait "${3:-8}" reach "$1" "$2"; }
# Three tries spread over 0.6 s, none may answer.
never_reaches() { ! ip netns exec "$P-$1" ping -c3 -i0.2 -W0.5 -q "$2" >/dev/null 2>&1; }
addr_of() { echo "192.0.2.${1#h}"; }

# Reads the IDs of every segment at once (loomctl segment list).
seg_ids_all() {
	local s vni rd rt
	while read -r s vni rd rt; do
		VNI_OF[$s]=$vni
		RD_OF[$s]=$rd
		RT_OF[$s]=$rt
	done < <(ctl -o json segment list | jq -r '.[] | select(.type == "ethernet")
		| "\(.tenant)/\(.name) \(.vni) \(.rd) \(.rt)"')
}

# The store's attachments equal the model: "tenant/seg node node" sorted.
intent_of_store() {
	ctl -o json segment list | jq -r '.[] | select(.type == "ethernet")
		| "\(.tenant)/\(.name) " + ([.attachments[].node] | sort | join(" "))' | sort
}
intent_of_model() {
	local s
	for s in "${!SEGS[@]}"; do
		# shellcheck disable=SC2086
		echo "$s $(printf '%s\n' ${SEGS[$s]} | sort | paste -sd' ')"
	done | sed 's/ $//' | sort
}

# A VM or container behind a shared port: an 802.1Q sub-interface of the
# host's eth0, moved into a namespace of its own (HOST-ns + SFX), with an
# address and, given one, a default route.  Removed by the EXIT trap.
share_ns() {	# share_ns HOST SFX VID CIDR [GATEWAY]
	local ns="$P-$1" sub="$P-$1$2"
	ip netns add "$sub" || return 1
	eval "share_down_$1$2() { ip netns del '$sub' 2>/dev/null; }"
	t_cleanup_add "share_down_$1$2"
	ip -n "$ns" link add link eth0 name "eth0.$3" type vlan id "$3" &&
		ip -n "$ns" link set "eth0.$3" netns "$sub" &&
		ip -n "$sub" addr add "$4" dev "eth0.$3" &&
		ip -n "$sub" link set "eth0.$3" up && ip -n "$sub" link set lo up &&
		{ [ -z "${5:-}" ] || ip -n "$sub" route add default via "$5"; }
}

# pair_matrix "SOURCES" "TARGETS": every ordered pair (a source, a target
# other than itself), one subshell per source, all in parallel.  The test
# defines end_ns END (the namespace it pings from), end_ip END (its
# address), end_grp END (ends of one non-empty group must reach each
# other; all other pairs never may) and may define end_ttl A B (the TTL
# A's pings must see from B; nothing: not checked).  Same group: answered
# within 10 s (the first ping waits for ARP and EVPN), then the TTL;
# otherwise 3 pings, none answered.  Prints what was wrong, sorted, on one
# line: A-/->B not reached, A-->B reached across groups, A->B:ttlN.
end_ttl() { :; }
pair_matrix() {
	local a b want t
	for a in $1; do
		for b in $2; do
			[ "$a" = "$b" ] && continue
			if [ -n "$(end_grp "$a")" ] && [ "$(end_grp "$a")" = "$(end_grp "$b")" ]; then
				if ! t_wait 10 ip netns exec "$(end_ns "$a")" ping -c1 -W0.5 -q "$(end_ip "$b")" >/dev/null 2>&1; then
					echo "$a-/->$b"
					continue
				fi
				want=$(end_ttl "$a" "$b")
				[ -n "$want" ] || continue
				t=$(ip netns exec "$(end_ns "$a")" ping -c3 -i0.2 -W1 "$(end_ip "$b")" 2>/dev/null |
					sed -n 's/.*ttl=\([0-9]*\).*/\1/p' | head -1)
				[ "$t" = "$want" ] || echo "$a->$b:ttl$t"
			else
				ip netns exec "$(end_ns "$a")" ping -c3 -i0.2 -W0.5 -q "$(end_ip "$b")" >/dev/null 2>&1 &&
					echo "$a-->$b"
			fi
		done >"$T_DIR/pairs.$a" &
	done
	wait
	cat "$T_DIR"/pairs.* | sort | paste -sd' '
	rm -f "$T_DIR"/pairs.*
}
