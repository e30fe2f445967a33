# tests/integration/soak_lib.sh: the two measures the soaks (soak.sh,
# soak_agent.sh) judge their samples by.  $T_DIR/samples holds one line a
# sample: seconds, then one column per measure.

# Least-squares slope of column COL over the second half, per minute.
slope() {
	awk -v col="$1" '{ t[NR] = $1; v[NR] = $col } END {
		h = int(NR / 2) + 1; n = 0; st = sv = stt = stv = 0
		for (i = h; i <= NR; i++) { n++; st += t[i]; sv += v[i]; stt += t[i] * t[i]; stv += t[i] * v[i] }
		d = n * stt - st * st
		printf "%.0f\n", (n > 2 && d > 0) ? (n * stv - st * sv) / d * 60 : 0 }' "$T_DIR/samples"
}

# The highest level each half held for two samples in a row: a thread or a
# descriptor that lives for one sample (the FRR thread of a VTEP's sync, a
# client's socket) is not growth; one that stays is.
halves_max() {	# COL: "first-half-max second-half-max"
	awk -v col="$1" '{ v[NR] = $col } END { h = int(NR / 2); a = b = 0
		for (i = 1; i < NR; i++) { m = v[i] < v[i + 1] ? v[i] : v[i + 1]
			if (i < h) { if (m > a) a = m } else if (m > b) b = m }
		print a, b }' "$T_DIR/samples"
}
