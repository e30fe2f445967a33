/*
 * bench/bench_kernel_diff.c: the kernel target's diff (kvtep_plan) alone, on
 * a synthetic observation of N programmed VNIs (2N links plus 2 ports per
 * VNI), no-change, so nothing but the merge pass is measured.
 *
 *   bench_kernel_diff [N=4000] [ROUNDS=51]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/monotime.h"
#include "overlay/kvtep.h"
#include "overlay/kvtep_test.h"

static int cmp_double(const void *a, const void *b)
{
	const double *x = a, *y = b;

	return (*x > *y) - (*x < *y);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 4000;
	int rounds = argc > 2 ? atoi(argv[2]) : 51, r, ret = 1;
	struct kvtep_test_link *l = calloc(4 * n + 1, sizeof(*l));
	struct vtep_vni *v = calloc(n, sizeof(*v));
	char (*names)[16] = calloc(4 * n, sizeof(*names));
	char (*ports)[LOOM_IFNAME_MAX] = calloc(2 * n, sizeof(*ports));
	char (*aliases)[64] = calloc(n, sizeof(*aliases));
	double *t = calloc((size_t)(rounds > 0 ? rounds : 1), sizeof(double));
	struct vtep_desired d = { .vtep = "bench" };
	struct kvtep *h = kvtep_test_handle("192.0.2.1", true);
	size_t i, k = 0;

	if (!l || !v || !names || !ports || !aliases || !t || !h || rounds < 1)
		return 1;
	l[k++] = (struct kvtep_test_link){ "lo", 1, "loopback", 0, true, 65536, 0, NULL, 0,
					    NULL, -1, -1 };
	for (i = 0; i < n; i++) {
		uint32_t vni = 10000 + (uint32_t)i;
		int br = 10 + 4 * (int)i;

		snprintf(names[4 * i], 16, "lb%u", vni);
		snprintf(names[4 * i + 1], 16, "lx%u", vni);
		snprintf(ports[2 * i], LOOM_IFNAME_MAX, "pa%zu", i);
		snprintf(ports[2 * i + 1], LOOM_IFNAME_MAX, "pb%zu", i);
		snprintf(aliases[i], 64, "loom:bench/s%zu", i);
		l[k++] = (struct kvtep_test_link){ names[4 * i], br, "bridge", 0, true, 1450,
						    KVTEP_GROUP, aliases[i], 0, NULL, -1, -1 };
		l[k++] = (struct kvtep_test_link){ names[4 * i + 1], br + 1, "vxlan", br, true,
						    1450, KVTEP_GROUP, aliases[i], vni,
						    "192.0.2.1", 1, 0 };
		l[k++] = (struct kvtep_test_link){ ports[2 * i], br + 2, "veth", br, true, 1500, 0,
						    NULL, 0, NULL, -1, -1 };
		l[k++] = (struct kvtep_test_link){ ports[2 * i + 1], br + 3, "veth", br, true, 1500,
						    0, NULL, 0, NULL, -1, -1 };
		v[i].vni = vni;
		v[i].mtu = 1450;
		snprintf(v[i].tenant, sizeof(v[i].tenant), "bench");
		snprintf(v[i].segment, sizeof(v[i].segment), "s%zu", i);
		v[i].ports = &ports[2 * i];	/* "pa.." < "pb..": sorted */
		v[i].n_ports = 2;
	}
	d.vnis = v;
	d.n_vnis = n;
	if (kvtep_test_observe(h, l, k) != (int)k)
		goto out;
	for (r = 0; r < rounds; r++) {
		double t0 = mono_ns() / 1e6;
		int acts = kvtep_plan(h, &d);

		t[r] = mono_ns() / 1e6 - t0;
		if (acts != 0) {
			fprintf(stderr, "expected a no-change plan, got %d actions\n", acts);
			goto out;
		}
	}
	qsort(t, (size_t)rounds, sizeof(double), cmp_double);
	printf("diff vnis=%zu links=%zu rounds=%d median_ms=%.3f min_ms=%.3f max_ms=%.3f\n", n, k,
	       rounds, t[rounds / 2], t[0], t[rounds - 1]);
	ret = 0;
out:
	kvtep_close(&h);
	free(l);
	free(v);
	free(names);
	free(ports);
	free(aliases);
	free(t);
	return ret;
}
