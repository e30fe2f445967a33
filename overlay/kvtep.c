/*
 * overlay/kvtep.c: the kernel VTEP target's handle.  It owns opening and
 * closing one (sockets in the VTEP's namespace, buffers), the capability
 * probe (scratch devices made and removed again), and the choice of mode
 * with the sentence that explains it.  The rest of the target is spread
 * over kvtep_*.c by what each part owns; overlay/kvtep_priv.h lists them.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>

#include "lib/log.h"
#include "overlay/kvtep_priv.h"
#include "overlay/kvtep_test.h"
#include "overlay/nl.h"

void kv_verr_set(struct kv_verr *e, int code, const char *fmt, ...)
{
	va_list ap;

	if (!e || e->code)
		return;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
}

/* ---- probe ------------------------------------------------------------ */

static const char *const probe_names[] = {
	"loomprobe0", "loomprobe1", "loomprobe2", "loomprobe3", "loomprobe4",
};

static void probe(struct kvtep *h)
{
	struct kvtep_caps *caps = &h->caps;
	bool made[5] = { false };
	struct nl_vxlan vx = { .local = h->local, .vni = 16777215, .port = NL_VXLAN_PORT };
	int ret, br;
	size_t i;

	/* Left over from a crash in the middle of an earlier probe. */
	for (i = 0; i < 5; i++)
		kv_request_one(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0,
					      probe_names[i]));

	ret = kv_request_one(h, nl_link_bridge_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq,
					    probe_names[0], 0, 0, false));
	caps->bridge = made[0] = ret == 0;
	br = caps->bridge ? kv_link_ifindex(h, probe_names[0]) : 0;

	vx.name = probe_names[1];
	vx.master = br > 0 ? br : 0;
	ret = kv_request_one(h, nl_link_vxlan_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, &vx));
	made[1] = ret == 0;
	/* EEXIST: the VNI is taken, so the kernel knew what a VXLAN device is. */
	caps->vxlan = ret == 0 || ret == -EEXIST;
	if (made[1] && br > 0) {
		struct nl_brport bp = { .neigh_suppress = 1, .learning = 0, .vlan_tunnel = -1 };

		ret = kv_request_one(h, nl_brport_set(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0,
						      probe_names[1], &bp));
		caps->neigh_suppress = ret == 0;
	}

	ret = kv_request_one(h, nl_link_bridge_vlan_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq,
						        probe_names[2], 0, 0, false));
	caps->vlan_filtering = made[2] = ret == 0;

	vx.name = probe_names[3];
	vx.master = 0;
	ret = kv_request_one(h, nl_link_vxlan_vnifilter_new(h->sendbuf, KVTEP_BATCH_BYTES,
							    ++h->seq, &vx));
	made[3] = ret == 0;
	/*
	 * Kernels without vnifilter ignore the unknown attribute and make a
	 * plain external device: believe it only when the kernel reports it back.
	 */
	if (made[3]) {
		struct kv_link l;

		caps->vnifilter = kv_link_get(h, probe_names[3], &l) > 0 && l.vnifilter;
	} else {
		caps->vnifilter = ret == -EEXIST;
	}

	ret = kv_request_one(h, nl_link_vrf_new(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq,
					        probe_names[4], 0x7fff0000U));
	caps->vrf = made[4] = ret == 0;

	for (i = 0; i < 5; i++)
		if (made[i])
			kv_request_one(h, nl_link_del(h->sendbuf, KVTEP_BATCH_BYTES, ++h->seq, 0,
						      probe_names[i]));
}

static void caps_missing(const struct kvtep_caps *c, char *buf, size_t len)
{
	const struct {
		bool have;
		const char *what;
	} list[] = {
		{ c->bridge, "bridges" }, { c->vxlan, "VXLAN" },
		{ c->vlan_filtering, "bridge VLAN filtering" },
		{ c->vnifilter, "VXLAN vnifilter" }, { c->vrf, "VRF" },
		{ c->neigh_suppress, "bridge neighbour suppression" },
	};
	size_t i, off = 0;

	buf[0] = '\0';
	for (i = 0; i < sizeof(list) / sizeof(list[0]) && off < len; i++) {
		if (list[i].have)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "",
					list[i].what);
	}
	if (!off)
		snprintf(buf, len, "nothing");
}

static int mode_choose(struct kvtep *h, enum vtep_mode want, struct loom_err *err)
{
	const struct kvtep_caps *c = &h->caps;
	bool trad = c->bridge && c->vxlan;
	/* One VXLAN device per VNI in one VLAN-filtering bridge: the layout
	 * FRR 8.4 learns (vnifilter is not needed, see kvtep_vlan.c). */
	bool aware = trad && c->vlan_filtering;
	char missing[160];

	caps_missing(c, missing, sizeof(missing));
	switch (want) {
	case VTEP_MODE_TRADITIONAL:
		if (!trad)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
					    "traditional mode needs bridges and VXLAN; this "
					    "kernel lacks %s",
					    missing);
		h->mode = VTEP_MODE_TRADITIONAL;
		snprintf(h->mode_reason, sizeof(h->mode_reason), "traditional: configured");
		return 0;
	case VTEP_MODE_VLAN_AWARE:
		if (!aware)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
					    "vlan-aware mode needs bridges, VXLAN and bridge VLAN "
					    "filtering; this kernel lacks %s; use mode traditional "
					    "or auto",
					    missing);
		h->mode = VTEP_MODE_VLAN_AWARE;
		snprintf(h->mode_reason, sizeof(h->mode_reason), "vlan-aware: configured");
		return 0;
	case VTEP_MODE_AUTO:
	default:
		if (!trad)
			return loom_err_set(err, LOOM_E_UNAVAILABLE, "mode",
					    "no usable mode: this kernel lacks %s", missing);
		if (aware) {
			h->mode = VTEP_MODE_VLAN_AWARE;
			snprintf(h->mode_reason, sizeof(h->mode_reason),
				 "auto chose vlan-aware: the kernel has bridge VLAN filtering");
		} else {
			h->mode = VTEP_MODE_TRADITIONAL;
			snprintf(h->mode_reason, sizeof(h->mode_reason),
				 "auto chose traditional: vlan-aware needs bridge VLAN "
				 "filtering, and this kernel lacks %s",
				 missing);
		}
		return 0;
	}
}

/* ---- open / close ----------------------------------------------------- */

int kvtep_open(const char *netns, const char *vtep_ip, enum vtep_mode mode,
	       struct kvtep **out, struct loom_err *err)
{
	struct kvtep *h;
	int ret;

	*out = NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->netns_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	snprintf(h->netns, sizeof(h->netns), "%s", netns ? netns : "");
	h->seq = (uint32_t)time(NULL);
	if (!vtep_ip || inet_pton(AF_INET, vtep_ip, &h->local) != 1) {
		ret = loom_err_set(err, LOOM_E_PARAMS, "vtep_ip",
				   "VTEP address \"%s\" is not an IPv4 address",
				   vtep_ip ? vtep_ip : "");
		goto fail;
	}
	h->sendbuf = malloc(KVTEP_BATCH_BYTES);
	h->recvbuf = malloc(KVTEP_RECV_BYTES);
	h->evbuf = malloc(KVTEP_RECV_BYTES);
	if (!h->sendbuf || !h->recvbuf || !h->evbuf) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = kv_sockets_open_in(h, netns);
	if (ret == -ENOENT) {
		loom_err_set(err, LOOM_E_NOT_FOUND, "netns",
			     "network namespace \"%s\" does not exist (no /run/netns/%s); "
			     "create it or correct the VTEP's netns in the topology",
			     h->netns, h->netns);
		goto fail;
	}
	if (ret) {
		loom_err_set(err, LOOM_E_UNAVAILABLE, "netns",
			     "cannot open netlink sockets in network namespace \"%s\": %s",
			     h->netns, strerror(-ret));
		goto fail;
	}
	probe(h);
	ret = mode_choose(h, mode, err);
	if (ret)
		goto fail;
	log_info("kvtep %s: %s", *h->netns ? h->netns : "(own netns)", h->mode_reason);
	*out = h;
	return 0;
fail:
	kvtep_close(&h);
	return ret;
}

void kvtep_close(struct kvtep **hp)
{
	struct kvtep *h = *hp;

	if (!h)
		return;
	if (h->req)
		mnl_socket_close(h->req);
	if (h->ev)
		mnl_socket_close(h->ev);
	if (h->netns_fd >= 0)
		close(h->netns_fd);
	free(h->obs.links);
	free(h->obs.by_name);
	free(h->acts);
	free(h->plan_err);
	free(h->apply_err);
	free(h->route_err);
	free(h->vid);
	free(h->newbr);
	if (h->pidx)
		kv_plan_idx_free(h->pidx);
	free(h->pidx);
	free(h->expect);
	free(h->carrier);
	free(h->changes);
	free(h->sendbuf);
	free(h->recvbuf);
	free(h->evbuf);
	pthread_mutex_destroy(&h->lock);
	free(h);
	*hp = NULL;
}

enum vtep_mode kvtep_mode(const struct kvtep *h)
{
	return h->mode;
}

const char *kvtep_mode_reason(const struct kvtep *h)
{
	return h->mode_reason;
}

const struct kvtep_caps *kvtep_caps(const struct kvtep *h)
{
	return &h->caps;
}

/* ---- for unit tests (overlay/kvtep_test.h) ----------------------------- */

void kvtep_test_set_mode(struct kvtep *h, enum vtep_mode mode)
{
	h->mode = mode;
	h->caps.vlan_filtering = mode == VTEP_MODE_VLAN_AWARE;
}

struct kvtep *kvtep_test_handle(const char *vtep_ip, bool neigh_suppress)
{
	struct kvtep *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->netns_fd = -1;
	pthread_mutex_init(&h->lock, NULL);
	inet_pton(AF_INET, vtep_ip, &h->local);
	h->caps = (struct kvtep_caps){ .bridge = true, .vxlan = true,
				       .neigh_suppress = neigh_suppress };
	h->mode = VTEP_MODE_TRADITIONAL;
	return h;
}
