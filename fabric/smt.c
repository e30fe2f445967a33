/*
 * fabric/smt.c: the subnet-manager target: partitions file + SIGHUP +
 * verification over MADs.
 *
 * MAD I/O: requests are queued in an array and run by one poll loop on the
 * umad fd with up to `window` in flight.  Each request carries its own TID
 * (a per-run generation and its index, in the low 32 bits; the kernel owns
 * the high 32), deadline and retry count.  The kernel is given no retries
 * of its own: loom resends on its deadline, or at once when the kernel
 * hands a send back with a timeout status, so the behaviour is the same on
 * a real HCA and under ibsim's umad2sim.
 *
 * Port GUID -> LID: one SubnAdmGet(NodeRecord) per unknown GUID, asked of
 * the SA at the master SM's LID (read from our own PortInfo over a 0-hop
 * directed route).  Each LID is then confirmed by SubnGet(NodeInfo): the
 * PortGUID it returns must be the GUID asked for, else the LID is stale and
 * is resolved again.  LIDs are cached until OpenSM restarts.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/umad.h>

#include "fabric/mad.h"
#include "fabric/partitions.h"
#include "fabric/smt.h"
#include "lib/log.h"
#include "lib/monotime.h"

#define SA_QKEY 0x80010000u
#define PKEY_TABLE_LIMIT 4096		/* beyond any real HCA; bounds the reads */
#define TID_IDX_BITS 20
#define REQ_CHUNK (1u << TID_IDX_BITS)

struct port_cache {
	uint64_t guid;
	uint16_t lid;
	uint8_t node_type;
	uint16_t cap;			/* NodeInfo.PartitionCap */
	uint8_t local_port;		/* NodeInfo.LocalPortNum: the port's number on its node */
	bool resolved;			/* lid known */
	bool info;			/* NodeInfo read and matched */
	bool missing;			/* the SA has no such port */
	int io_err;			/* last MAD error for this port (-errno) */
	uint16_t *pkeys;		/* the table as last read */
	unsigned int n_pkeys;
	bool pkeys_ok;
	unsigned int want;		/* scratch: entries loom wants on it */
};

struct smt {
	struct topo_sm sm;
	int portid;
	int smi_agent, dr_agent, sa_agent;
	int perf_agent;			/* -1: PortCounters cannot be read here */
	struct port_cache *ports;	/* sorted by guid */
	size_t n_ports, cap_ports;
	uint16_t *watch_pkeys;		/* every P_Key loom wrote or found in its section */
	char (*watch_names)[LOOM_NAME_MAX];	/* its partition's name, for status */
	size_t n_watch_pkeys;
	bool last_write_changed;	/* the last smt_write replaced the file */
	uint64_t *watch_guids;		/* every port loom put in a partition */
	size_t n_watch_guids;
	char *last_section;		/* what this smt last wrote */
	size_t last_len;
	pid_t sm_pid;
	unsigned long long sm_start;
	uint32_t act_before;
	bool signalled;
	unsigned int timeout_ms, retries, window;
	struct smt_stats stats;
	uint32_t gen;
	void *umad;			/* one send/receive buffer */
	size_t umad_len;
};

enum req_kind { RQ_SA_NODE_RECORD, RQ_NODE_INFO, RQ_PKEY_BLOCK, RQ_SM_INFO, RQ_LOCAL_PORT_INFO,
		RQ_PORT_INFO, RQ_PORT_COUNTERS };

struct mad_req {
	enum req_kind kind;
	size_t port;			/* index into s->ports */
	unsigned int block;
	uint16_t dlid;
	int result;			/* 1 pending, 0 done, -errno failed */
	uint16_t mad_status;
	unsigned int tries;
	bool inflight;
	uint64_t deadline;		/* monotonic ms */
	uint8_t data[SA_DATA_SIZE];
};

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *smt_pstate_name(enum smt_pstate st)
{
	switch (st) {
	case SMT_PROGRAMMED: return "programmed";
	case SMT_PENDING: return "pending";
	case SMT_ERROR: return "error";
	}
	return "unknown";
}

void smt_pstatus_free(struct smt_pstatus **st)
{
	if (!st)
		return;
	free(*st);
	*st = NULL;
}

/* ---- small sets ---- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static bool guid_watched(const struct smt *s, uint64_t g)
{
	/* bsearch's array may not be NULL, even empty */
	return s->n_watch_guids &&
	       bsearch(&g, s->watch_guids, s->n_watch_guids, sizeof(g), cmp_u64) != NULL;
}

static int watch_guid(struct smt *s, uint64_t g)
{
	uint64_t *n;
	size_t i;

	if (guid_watched(s, g))
		return 0;
	n = realloc(s->watch_guids, (s->n_watch_guids + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->watch_guids = n;
	for (i = s->n_watch_guids; i > 0 && n[i - 1] > g; i--)
		n[i] = n[i - 1];
	n[i] = g;
	s->n_watch_guids++;
	return 0;
}

static bool pkey_watched(const struct smt *s, uint16_t p)
{
	for (size_t i = 0; i < s->n_watch_pkeys; i++)
		if (s->watch_pkeys[i] == p)
			return true;
	return false;
}

static int watch_pkey(struct smt *s, uint16_t p, const char *name)
{
	char (*names)[LOOM_NAME_MAX];
	uint16_t *n;

	for (size_t i = 0; i < s->n_watch_pkeys; i++)
		if (s->watch_pkeys[i] == p) {
			if (name[0])
				snprintf(s->watch_names[i], LOOM_NAME_MAX, "%s", name);
			return 0;
		}
	n = realloc(s->watch_pkeys, (s->n_watch_pkeys + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	s->watch_pkeys = n;
	names = realloc(s->watch_names, (s->n_watch_pkeys + 1) * sizeof(*names));
	if (!names)
		return -ENOMEM;
	s->watch_names = names;
	snprintf(names[s->n_watch_pkeys], LOOM_NAME_MAX, "%s", name);
	n[s->n_watch_pkeys++] = p;
	return 0;
}

static int watch_found(struct smt *s, const struct partitions_found *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (watch_pkey(s, f[i].pkey, f[i].name) < 0)
			return -ENOMEM;
		for (size_t m = 0; m < f[i].n_members; m++)
			if (watch_guid(s, f[i].members[m].guid) < 0)
				return -ENOMEM;
	}
	return 0;
}

static int watch_desired(struct smt *s, const struct sm_desired *d)
{
	for (size_t i = 0; i < d->n_partitions; i++) {
		if (watch_pkey(s, d->partitions[i].pkey, d->partitions[i].name) < 0)
			return -ENOMEM;
		for (size_t m = 0; m < d->partitions[i].n_members; m++)
			if (watch_guid(s, d->partitions[i].members[m].guid) < 0)
				return -ENOMEM;
	}
	return 0;
}

/* The cache slot for @guid, created when absent; SIZE_MAX on ENOMEM. */
static size_t port_slot(struct smt *s, uint64_t guid)
{
	size_t lo = 0, hi = s->n_ports;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->ports[mid].guid == guid)
			return mid;
		if (s->ports[mid].guid < guid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (s->n_ports == s->cap_ports) {
		size_t cap = s->cap_ports ? s->cap_ports * 2 : 64;
		struct port_cache *n = realloc(s->ports, cap * sizeof(*n));

		if (!n)
			return SIZE_MAX;
		s->ports = n;
		s->cap_ports = cap;
	}
	memmove(&s->ports[lo + 1], &s->ports[lo], (s->n_ports - lo) * sizeof(*s->ports));
	memset(&s->ports[lo], 0, sizeof(*s->ports));
	s->ports[lo].guid = guid;
	s->n_ports++;
	return lo;
}

static struct port_cache *port_find(struct smt *s, uint64_t guid)
{
	size_t lo = 0, hi = s->n_ports;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (s->ports[mid].guid == guid)
			return &s->ports[mid];
		if (s->ports[mid].guid < guid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void ports_forget(struct smt *s)
{
	for (size_t i = 0; i < s->n_ports; i++) {
		s->ports[i].resolved = false;
		s->ports[i].info = false;
		s->ports[i].missing = false;
		s->ports[i].pkeys_ok = false;
	}
}

/* ---- MAD engine ---- */

static int req_send(struct smt *s, struct mad_req *r, size_t idx, uint16_t sm_lid)
{
	uint8_t *mad = umad_get_mad(s->umad);
	uint64_t tid = ((uint64_t)(s->gen & 0xfff) << TID_IDX_BITS) | idx;
	int agent, rc;

	memset(s->umad, 0, s->umad_len);
	switch (r->kind) {
	case RQ_SA_NODE_RECORD:
		mad_sa_node_record_get_encode(mad, MAD_SIZE, tid, s->ports[r->port].guid);
		umad_set_addr(s->umad, sm_lid, 1, 0, (int)SA_QKEY);
		agent = s->sa_agent;
		break;
	case RQ_NODE_INFO:
		mad_smp_lid_encode(mad, MAD_SIZE, MAD_METHOD_GET, MAD_ATTR_NODE_INFO, 0, tid, NULL, 0);
		umad_set_addr(s->umad, r->dlid, 0, 0, 0);
		agent = s->smi_agent;
		break;
	case RQ_PKEY_BLOCK:
		/*
		 * Member GUIDs name CA ports or a switch's port 0; both read with
		 * the port number 0 in the modifier's upper half.
		 */
		mad_smp_lid_encode(mad, MAD_SIZE, MAD_METHOD_GET, MAD_ATTR_PKEY_TABLE,
				   mad_pkey_attr_mod(r->block, 0), tid, NULL, 0);
		umad_set_addr(s->umad, r->dlid, 0, 0, 0);
		agent = s->smi_agent;
		break;
	case RQ_SM_INFO:
		mad_smp_lid_encode(mad, MAD_SIZE, MAD_METHOD_GET, MAD_ATTR_SM_INFO, 0, tid, NULL, 0);
		umad_set_addr(s->umad, r->dlid, 0, 0, 0);
		agent = s->smi_agent;
		break;
	case RQ_PORT_INFO:
		/* Modifier 0: the port the SMP arrives on, i.e. the port of this LID. */
		mad_smp_lid_encode(mad, MAD_SIZE, MAD_METHOD_GET, MAD_ATTR_PORT_INFO, 0, tid, NULL, 0);
		umad_set_addr(s->umad, r->dlid, 0, 0, 0);
		agent = s->smi_agent;
		break;
	case RQ_PORT_COUNTERS:
		/* A GMP: to the port's QP1 with the well-known GSI Q_Key. */
		mad_perf_port_counters_encode(mad, MAD_SIZE, tid, (uint8_t)r->block);
		umad_set_addr(s->umad, r->dlid, 1, 0, (int)SA_QKEY);
		agent = s->perf_agent;
		break;
	case RQ_LOCAL_PORT_INFO:
	default:
		mad_smp_dr_encode(mad, MAD_SIZE, MAD_METHOD_GET, MAD_ATTR_PORT_INFO, 0, tid, NULL, 0);
		umad_set_addr(s->umad, 0xffff, 0, 0, 0);
		agent = s->dr_agent;
		break;
	}
	rc = umad_send(s->portid, agent, s->umad, MAD_SIZE, (int)s->timeout_ms, 0);
	s->stats.smps++;
	if (rc < 0)
		return rc;
	r->tries++;
	r->inflight = true;
	r->deadline = (uint64_t)mono_ms() + s->timeout_ms;
	return 0;
}

static void req_receive(struct smt *s, struct mad_req *reqs, size_t n, size_t *inflight,
			size_t *done, uint16_t sm_lid)
{
	for (;;) {
		int len = MAD_SIZE, agent;
		struct mad_hdr h;
		uint8_t *mad;
		size_t idx;
		struct mad_req *r;

		memset(s->umad, 0, s->umad_len);
		agent = umad_recv(s->portid, s->umad, &len, 0);
		if (agent < 0)
			return;
		mad = umad_get_mad(s->umad);
		log_debug(LOG_SUB_MAD, "mad recv: agent %d len %d umad status %d class 0x%02x method 0x%02x status 0x%02x%02x",
			  agent, len, umad_status(s->umad), mad[1], mad[3], mad[4], mad[5]);
		if (len > MAD_SIZE)
			len = MAD_SIZE;
		if (mad_hdr_decode(mad, (size_t)len, &h) < 0)
			continue;
		if (((h.tid >> TID_IDX_BITS) & 0xfff) != (s->gen & 0xfff))
			continue;	/* a late answer from an earlier run */
		idx = (size_t)(h.tid & (REQ_CHUNK - 1));
		if (idx >= n || reqs[idx].result != 1 || !reqs[idx].inflight)
			continue;
		r = &reqs[idx];
		if (umad_status(s->umad) != 0) {
			/* The kernel gave the send back: it timed out.  Resend now. */
			r->deadline = 0;
			continue;
		}
		if (h.method != MAD_METHOD_GET_RESP)
			continue;
		r->inflight = false;
		(*inflight)--;
		(*done)++;
		r->mad_status = h.status;
		if (h.status) {
			r->result = (r->kind == RQ_SA_NODE_RECORD && h.status == SA_STATUS_NO_RECORDS)
				    ? -ENOENT : -EIO;
			continue;
		}
		memcpy(r->data, r->kind == RQ_SA_NODE_RECORD ? mad_sa_data(mad) : mad_smp_data(mad),
		       r->kind == RQ_SA_NODE_RECORD ? SA_DATA_SIZE : SMP_DATA_SIZE);
		r->result = 0;
	}
	(void)sm_lid;
}

/* Run every request to an answer or to its last retry. */
static int mad_run(struct smt *s, struct mad_req *reqs, size_t n, uint16_t sm_lid)
{
	size_t next = 0, inflight = 0, done = 0, lo = 0;
	int fd = umad_get_fd(s->portid);

	if (n >= REQ_CHUNK)
		return -E2BIG;
	s->gen++;
	for (size_t i = 0; i < n; i++) {
		reqs[i].result = 1;
		reqs[i].tries = 0;
		reqs[i].inflight = false;
	}
	while (done < n) {
		uint64_t now, first = UINT64_MAX;
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int wait;

		while (inflight < s->window && next < n) {
			int rc = req_send(s, &reqs[next], next, sm_lid);

			if (rc < 0) {
				reqs[next].result = rc;
				done++;
			} else {
				inflight++;
			}
			next++;
		}
		/* Requests go out in order: everything below lo is answered. */
		while (lo < next && !reqs[lo].inflight)
			lo++;
		now = (uint64_t)mono_ms();
		for (size_t i = lo; i < next; i++) {
			struct mad_req *r = &reqs[i];

			if (!r->inflight || r->deadline > now)
				continue;
			if (r->tries <= s->retries) {
				s->stats.retries++;
				if (req_send(s, r, i, sm_lid) < 0) {
					r->inflight = false;
					r->result = -EIO;
					inflight--;
					done++;
				}
			} else {
				r->inflight = false;
				r->result = -ETIMEDOUT;
				s->stats.timeouts++;
				inflight--;
				done++;
			}
		}
		if (done >= n)
			break;
		for (size_t i = lo; i < next; i++)
			if (reqs[i].inflight && reqs[i].deadline < first)
				first = reqs[i].deadline;
		now = (uint64_t)mono_ms();
		wait = first == UINT64_MAX ? 0 : (first > now ? (int)(first - now) : 0);
		if (poll(&pfd, 1, wait) > 0)
			req_receive(s, reqs, next, &inflight, &done, sm_lid);
	}
	return 0;
}

/* Our own PortInfo over a 0-hop directed route: our LID and the SM's. */
static int local_port_info(struct smt *s, struct mad_port_info *pi, struct loom_err *err)
{
	struct mad_req r = { .kind = RQ_LOCAL_PORT_INFO };
	int rc;

	rc = mad_run(s, &r, 1, 0);
	if (rc == 0)
		rc = r.result;
	if (rc == 0)
		rc = mad_port_info_decode(r.data, SMP_DATA_SIZE, pi);
	if (rc < 0)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "umad_port",
				    "cannot read the local PortInfo through umad port %s:%d: %s",
				    s->sm.umad_ca[0] ? s->sm.umad_ca : "(first)", s->sm.umad_port,
				    strerror(-rc));
	if (pi->sm_lid == 0 || pi->lid == 0)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "umad_port",
				    "the local port has no LID or no master SM yet (LID %u, SM LID %u); is OpenSM %s running?",
				    pi->lid, pi->sm_lid, s->sm.name);
	return 0;
}

/*
 * Make every port in @idx resolved (LID) and described (NodeInfo).  Ports
 * the SA does not know are marked missing; I/O failures set io_err.
 */
static int ports_describe(struct smt *s, const size_t *idx, size_t n, struct loom_err *err)
{
	struct mad_port_info pi;
	struct mad_req *reqs = NULL;
	size_t nr;
	int rc;

	if (n == 0)
		return 0;
	rc = local_port_info(s, &pi, err);
	if (rc < 0)
		return rc;
	reqs = calloc(n, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	for (int pass = 0; pass < 2; pass++) {
		nr = 0;
		for (size_t i = 0; i < n; i++) {
			struct port_cache *p = &s->ports[idx[i]];

			p->io_err = 0;
			if (!p->resolved) {
				memset(&reqs[nr], 0, sizeof(reqs[nr]));
				reqs[nr].kind = RQ_SA_NODE_RECORD;
				reqs[nr++].port = idx[i];
			}
		}
		rc = mad_run(s, reqs, nr, pi.sm_lid);
		if (rc < 0)
			goto out;
		for (size_t i = 0; i < nr; i++) {
			struct port_cache *p = &s->ports[reqs[i].port];
			struct mad_node_record nrec;

			if (reqs[i].result == -ENOENT) {
				p->missing = true;
			} else if (reqs[i].result < 0) {
				p->io_err = reqs[i].result;
			} else if (mad_node_record_decode(reqs[i].data, SA_DATA_SIZE, &nrec) == 0) {
				p->lid = nrec.lid;
				p->resolved = true;
				p->missing = false;
				p->info = false;
			} else {
				p->io_err = -EBADMSG;
			}
		}
		nr = 0;
		for (size_t i = 0; i < n; i++) {
			struct port_cache *p = &s->ports[idx[i]];

			if (p->resolved && !p->info) {
				memset(&reqs[nr], 0, sizeof(reqs[nr]));
				reqs[nr].kind = RQ_NODE_INFO;
				reqs[nr].dlid = p->lid;
				reqs[nr++].port = idx[i];
			}
		}
		rc = mad_run(s, reqs, nr, pi.sm_lid);
		if (rc < 0)
			goto out;
		bool stale = false;

		for (size_t i = 0; i < nr; i++) {
			struct port_cache *p = &s->ports[reqs[i].port];
			struct mad_node_info ni;

			if (reqs[i].result < 0) {
				/* Maybe a stale LID: ask the SA again next time. */
				p->io_err = reqs[i].result;
				p->resolved = false;
				continue;
			}
			if (mad_node_info_decode(reqs[i].data, SMP_DATA_SIZE, &ni) < 0) {
				p->io_err = -EBADMSG;
				continue;
			}
			if (ni.port_guid != p->guid) {
				/* The LID now belongs to another port: ask the SA again. */
				p->resolved = false;
				stale = true;
				continue;
			}
			p->node_type = ni.node_type;
			p->local_port = ni.local_port;
			p->cap = ni.partition_cap ? ni.partition_cap : PKEY_BLOCK_ENTRIES;
			if (p->cap > PKEY_TABLE_LIMIT)
				p->cap = PKEY_TABLE_LIMIT;
			p->info = true;
		}
		if (!stale)
			break;
	}
	rc = 0;
out:
	free(reqs);
	return rc;
}

/* Read the P_Key tables of the described ports in @idx. */
static int ports_read_pkeys(struct smt *s, const size_t *idx, size_t n, struct loom_err *err)
{
	struct mad_port_info pi;
	struct mad_req *reqs = NULL;
	size_t nr = 0, total = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		struct port_cache *p = &s->ports[idx[i]];

		p->pkeys_ok = false;
		if (p->info)
			total += (p->cap + PKEY_BLOCK_ENTRIES - 1) / PKEY_BLOCK_ENTRIES;
	}
	if (total == 0)
		return 0;
	rc = local_port_info(s, &pi, err);
	if (rc < 0)
		return rc;
	reqs = calloc(total, sizeof(*reqs));
	if (!reqs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct port_cache *p = &s->ports[idx[i]];
		unsigned int blocks;
		uint16_t *t;

		if (!p->info)
			continue;
		blocks = (p->cap + PKEY_BLOCK_ENTRIES - 1) / PKEY_BLOCK_ENTRIES;
		t = realloc(p->pkeys, (size_t)blocks * PKEY_BLOCK_ENTRIES * sizeof(*t));
		if (!t) {
			rc = -ENOMEM;
			goto out;
		}
		p->pkeys = t;
		p->n_pkeys = p->cap;
		p->pkeys_ok = true;
		for (unsigned int b = 0; b < blocks; b++) {
			memset(&reqs[nr], 0, sizeof(reqs[nr]));
			reqs[nr].kind = RQ_PKEY_BLOCK;
			reqs[nr].dlid = p->lid;
			reqs[nr].block = b;
			reqs[nr++].port = idx[i];
		}
	}
	rc = mad_run(s, reqs, nr, pi.sm_lid);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < nr; i++) {
		struct port_cache *p = &s->ports[reqs[i].port];
		uint16_t block[PKEY_BLOCK_ENTRIES];

		if (reqs[i].result < 0) {
			p->io_err = reqs[i].result;
			p->pkeys_ok = false;
			p->resolved = false;
			p->info = false;
			continue;
		}
		mad_pkey_block_decode(reqs[i].data, SMP_DATA_SIZE, block);
		for (unsigned int e = 0; e < PKEY_BLOCK_ENTRIES; e++) {
			unsigned int at = reqs[i].block * PKEY_BLOCK_ENTRIES + e;

			if (at < p->n_pkeys)
				p->pkeys[at] = block[e];
		}
	}
	rc = 0;
out:
	free(reqs);
	return rc;
}

/* ---- OpenSM's pid ---- */

static int sm_pid_read(const struct smt *s, pid_t *pid, unsigned long long *start,
		       struct loom_err *err)
{
	char buf[512], path[64], *p;
	long v;
	FILE *fp;
	size_t got;

	fp = fopen(s->sm.pid_file, "re");
	if (!fp)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "pid_file",
				    "cannot read OpenSM's pid file %s: %s; is OpenSM %s running?",
				    s->sm.pid_file, strerror(errno), s->sm.name);
	got = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[got] = '\0';
	v = strtol(buf, &p, 10);
	if (p == buf || v <= 1 || (*p && *p != '\n' && *p != ' '))
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "pid_file",
				    "OpenSM's pid file %s does not hold a pid", s->sm.pid_file);
	snprintf(path, sizeof(path), "/proc/%ld/stat", v);
	fp = fopen(path, "re");
	if (!fp)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "pid_file",
				    "OpenSM's pid file %s names pid %ld, which is not running (stale pid file); restart OpenSM %s",
				    s->sm.pid_file, v, s->sm.name);
	got = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[got] = '\0';
	/* comm is between the parentheses; starttime is field 22. */
	if (!strstr(buf, "(opensm") || !(p = strrchr(buf, ')')))
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "pid_file",
				    "OpenSM's pid file %s names pid %ld, which is not opensm (stale pid file); restart OpenSM %s",
				    s->sm.pid_file, v, s->sm.name);
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	*start = p ? strtoull(p + 1, NULL, 10) : 0;
	*pid = (pid_t)v;
	return 0;
}

/* ---- public ---- */

int smt_open(const struct topo_sm *sm, struct smt **out, struct loom_err *err)
{
	struct partitions_file *f = NULL;
	struct smt *s;
	int rc;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->sm = *sm;
	s->portid = -1;
	s->timeout_ms = 200;
	s->retries = 3;
	s->window = 64;
	/*
	 * umad_get_mad() points past the header as this header file declares
	 * it, which can be longer than the library's umad_size(): room for both.
	 */
	s->umad_len = (umad_size() > sizeof(struct ib_user_mad) ? umad_size()
							   : sizeof(struct ib_user_mad)) + MAD_SIZE;
	s->umad = calloc(1, s->umad_len);
	if (!s->umad) {
		rc = -ENOMEM;
		goto fail;
	}
	if (umad_init() < 0) {
		rc = loom_err_set(err, LOOM_E_UNAVAILABLE, "umad_ca",
				  "libibumad cannot start (no InfiniBand MAD support on this host)");
		goto fail;
	}
	s->portid = umad_open_port(sm->umad_ca[0] ? sm->umad_ca : NULL, sm->umad_port);
	if (s->portid < 0) {
		rc = loom_err_set(err, LOOM_E_UNAVAILABLE, "umad_ca",
				  "cannot open umad port %s:%d for subnet manager %s: %s",
				  sm->umad_ca[0] ? sm->umad_ca : "(first)", sm->umad_port,
				  sm->name, strerror(-s->portid));
		goto fail;
	}
	s->smi_agent = umad_register(s->portid, MAD_CLASS_SMI, MAD_CLASS_VERSION_SMI, 0, NULL);
	s->dr_agent = umad_register(s->portid, MAD_CLASS_SMI_DR, MAD_CLASS_VERSION_SMI, 0, NULL);
	s->sa_agent = umad_register(s->portid, MAD_CLASS_SA, MAD_CLASS_VERSION_SA, 0, NULL);
	/* Optional: without it the HCA watcher reads PortInfo only. */
	s->perf_agent = umad_register(s->portid, MAD_CLASS_PERF, MAD_CLASS_VERSION_PERF, 0, NULL);
	if (s->smi_agent < 0 || s->dr_agent < 0 || s->sa_agent < 0) {
		rc = loom_err_set(err, LOOM_E_UNAVAILABLE, "umad_ca",
				  "cannot register MAD agents on umad port %s:%d (root needed)",
				  sm->umad_ca[0] ? sm->umad_ca : "(first)", sm->umad_port);
		goto fail;
	}
	/* Seed what loom owned before this process: its section in the file. */
	if (partitions_file_read(sm->partitions_file, &f, NULL) == 0) {
		rc = watch_found(s, f->loom, f->n_loom);
		partitions_file_free(&f);
		if (rc < 0)
			goto fail;
	}
	/* OpenSM not running yet is not an error here; smt_signal says so. */
	if (sm_pid_read(s, &s->sm_pid, &s->sm_start, NULL) < 0)
		s->sm_pid = 0;
	*out = s;
	return 0;
fail:
	smt_close(&s);
	return rc < 0 ? rc : -EINVAL;
}

void smt_close(struct smt **sp)
{
	struct smt *s;

	if (!sp || !*sp)
		return;
	s = *sp;
	if (s->portid >= 0)
		umad_close_port(s->portid);
	for (size_t i = 0; i < s->n_ports; i++)
		free(s->ports[i].pkeys);
	free(s->ports);
	free(s->watch_pkeys);
	free(s->watch_names);
	free(s->watch_guids);
	free(s->last_section);
	free(s->umad);
	free(s);
	*sp = NULL;
}

int smt_port_health(struct smt *s, struct smt_port_health *ports, size_t n, struct loom_err *err)
{
	struct mad_port_info pi;
	struct mad_req *reqs = NULL;
	size_t *idx = NULL, nr = 0;
	int rc;

	if (n == 0)
		return 0;
	idx = calloc(n, sizeof(*idx));
	reqs = calloc(2 * n, sizeof(*reqs));
	if (!idx || !reqs) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		idx[i] = port_slot(s, ports[i].guid);
		if (idx[i] == SIZE_MAX) {
			rc = -ENOMEM;
			goto out;
		}
	}
	/* port_slot may move entries: look the slots up again after growing. */
	for (size_t i = 0; i < n; i++)
		idx[i] = (size_t)(port_find(s, ports[i].guid) - s->ports);
	rc = ports_describe(s, idx, n, err);
	if (rc < 0)
		goto out;
	rc = local_port_info(s, &pi, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct port_cache *p = &s->ports[idx[i]];

		ports[i].counters_ok = false;
		ports[i].port_state = 0;
		if (!p->info) {
			ports[i].result = p->missing ? -ENOENT : p->io_err ? p->io_err : -EHOSTUNREACH;
			continue;
		}
		ports[i].result = 1;
		memset(&reqs[nr], 0, sizeof(reqs[nr]));
		reqs[nr].kind = RQ_PORT_INFO;
		reqs[nr].dlid = p->lid;
		reqs[nr++].port = i;
		if (s->perf_agent < 0)
			continue;
		memset(&reqs[nr], 0, sizeof(reqs[nr]));
		reqs[nr].kind = RQ_PORT_COUNTERS;
		reqs[nr].dlid = p->lid;
		reqs[nr].block = p->node_type == IB_NODE_SWITCH ? 0 : p->local_port;
		reqs[nr++].port = i;
	}
	rc = mad_run(s, reqs, nr, pi.sm_lid);
	if (rc < 0)
		goto out;
	for (size_t k = 0; k < nr; k++) {
		struct smt_port_health *h = &ports[reqs[k].port];

		if (reqs[k].kind == RQ_PORT_INFO) {
			struct mad_port_info got;

			if (reqs[k].result < 0) {
				/* The LID may be stale too: ask the SA next time. */
				h->result = reqs[k].result;
				s->ports[idx[reqs[k].port]].resolved = false;
				s->ports[idx[reqs[k].port]].info = false;
			} else if (mad_port_info_decode(reqs[k].data, SMP_DATA_SIZE, &got) < 0) {
				h->result = -EBADMSG;
			} else {
				h->result = 0;
				h->port_state = got.port_state;
			}
		} else if (reqs[k].result == 0) {
			struct mad_port_counters pc;

			if (mad_port_counters_decode(reqs[k].data, SMP_DATA_SIZE, &pc) == 0) {
				h->counters_ok = true;
				h->symbol_errors = pc.symbol_errors;
				h->link_recovery = pc.link_recovery;
				h->link_downed = pc.link_downed;
			}
		}
	}
	rc = 0;
out:
	free(idx);
	free(reqs);
	return rc;
}

int smt_fd(const struct smt *s)
{
	return umad_get_fd(s->portid);
}

bool smt_write_changed(const struct smt *s)
{
	return s->last_write_changed;
}

void smt_get_stats(const struct smt *s, struct smt_stats *out)
{
	*out = s->stats;
}

void smt_set_mad_params(struct smt *s, unsigned int timeout_ms, unsigned int retries,
			unsigned int window)
{
	s->timeout_ms = timeout_ms ? timeout_ms : 1;
	s->retries = retries;
	s->window = window ? window : 1;
}

/* Slots for every member GUID of @d (and, with @watched, every watched GUID). */
static int collect_ports(struct smt *s, const struct sm_desired *d, bool watched,
			 size_t **idx_out, size_t *n_out)
{
	size_t n = 0, cap = 0, *idx = NULL, total = watched ? s->n_watch_guids : 0;
	uint64_t *guids;
	int rc = -ENOMEM;

	for (size_t i = 0; i < d->n_partitions; i++)
		total += d->partitions[i].n_members;
	guids = malloc((total ? total : 1) * sizeof(*guids));
	if (!guids)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_partitions; i++)
		for (size_t m = 0; m < d->partitions[i].n_members; m++)
			guids[n++] = d->partitions[i].members[m].guid;
	if (watched)
		for (size_t i = 0; i < s->n_watch_guids; i++)
			guids[n++] = s->watch_guids[i];
	qsort(guids, n, sizeof(*guids), cmp_u64);
	cap = n;
	idx = malloc((cap ? cap : 1) * sizeof(*idx));
	if (!idx)
		goto out;
	/* Create every slot first: creating one moves the others. */
	for (size_t i = 0; i < n; i++)
		if ((i == 0 || guids[i] != guids[i - 1]) && port_slot(s, guids[i]) == SIZE_MAX)
			goto out;
	*n_out = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || guids[i] != guids[i - 1])
			idx[(*n_out)++] = (size_t)(port_find(s, guids[i]) - s->ports);
	*idx_out = idx;
	idx = NULL;
	rc = 0;
out:
	free(idx);
	free(guids);
	return rc;
}

static void member_label(const struct pkey_member *m, char *buf, size_t size)
{
	if (m->node[0])
		snprintf(buf, size, "0x%016" PRIx64 " (%s %s)", m->guid, m->node, m->port);
	else
		snprintf(buf, size, "0x%016" PRIx64, m->guid);
}

static bool pkey_in_desired(const struct sm_desired *d, uint16_t base)
{
	for (size_t i = 0; i < d->n_partitions; i++)
		if (d->partitions[i].pkey == base)
			return true;
	return false;
}

int smt_check_capacity(struct smt *s, const struct sm_desired *d, struct loom_err *err)
{
	size_t *idx = NULL, n = 0;
	int rc;

	rc = collect_ports(s, d, false, &idx, &n);
	if (rc < 0)
		return rc;
	rc = ports_describe(s, idx, n, err);
	if (rc == 0)
		rc = ports_read_pkeys(s, idx, n, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		s->ports[idx[i]].want = 0;
	for (size_t i = 0; i < d->n_partitions; i++)
		for (size_t m = 0; m < d->partitions[i].n_members; m++) {
			struct port_cache *p = port_find(s, d->partitions[i].members[m].guid);

			if (p)
				p->want++;
		}
	for (size_t i = 0; i < d->n_partitions; i++) {
		for (size_t m = 0; m < d->partitions[i].n_members; m++) {
			const struct pkey_member *pm = &d->partitions[i].members[m];
			struct port_cache *p = port_find(s, pm->guid);
			unsigned int foreign = 0;
			char field[96];

			if (!p || !p->pkeys_ok)
				continue;	/* unreadable: smt_write reports it */
			for (unsigned int e = 0; e < p->n_pkeys; e++) {
				uint16_t base = p->pkeys[e] & PKEY_BASE_MASK;

				if (base && !pkey_in_desired(d, base) && !pkey_watched(s, base))
					foreign++;
			}
			snprintf(field, sizeof(field), "partitions[%zu].members[%zu].guid", i, m);
			rc = partitions_port_fits(err, field, pm->guid, pm->node, pm->port, p->want, foreign,
						  p->cap);
			if (rc < 0)
				goto out;
		}
	}
out:
	free(idx);
	return rc;
}

int ib_port_pkey_capacity(struct smt *s, uint64_t port_guid, unsigned int *capacity,
			  unsigned int *used, struct loom_err *err)
{
	size_t slot = port_slot(s, port_guid);
	struct port_cache *p;
	int rc;

	if (slot == SIZE_MAX)
		return -ENOMEM;
	rc = ports_describe(s, &slot, 1, err);
	if (rc == 0)
		rc = ports_read_pkeys(s, &slot, 1, err);
	if (rc < 0)
		return rc;
	p = &s->ports[slot];
	if (p->missing)
		return loom_err_set(err, LOOM_E_NOT_FOUND, "guid",
				    "port GUID 0x%016" PRIx64 " is not in the fabric of subnet manager %s",
				    port_guid, s->sm.name);
	if (!p->pkeys_ok)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "guid",
				    "cannot read the P_Key table of port 0x%016" PRIx64 " (LID %u): %s",
				    port_guid, p->lid, strerror(-p->io_err));
	*capacity = p->cap;
	*used = 0;
	for (unsigned int e = 0; e < p->n_pkeys; e++)
		if (p->pkeys[e] & PKEY_BASE_MASK)
			(*used)++;
	return 0;
}

int smt_port_usage(struct smt *s, const struct sm_desired *d, struct smt_port_usage **out,
		   size_t *n_out)
{
	struct smt_port_usage *u;
	size_t *idx = NULL, n = 0;
	int rc;

	rc = collect_ports(s, d, false, &idx, &n);
	if (rc < 0)
		return rc;
	u = calloc(n ? n : 1, sizeof(*u));
	if (!u) {
		free(idx);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const struct port_cache *p = &s->ports[idx[i]];

		u[i].guid = p->guid;
		u[i].lid = p->lid;
		u[i].valid = p->info && p->pkeys_ok;
		if (!u[i].valid)
			continue;
		u[i].capacity = p->cap;
		for (unsigned int e = 0; e < p->n_pkeys; e++) {
			uint16_t base = p->pkeys[e] & PKEY_BASE_MASK;

			if (!base)
				continue;
			u[i].used++;
			if (!pkey_in_desired(d, base) && !pkey_watched(s, base))
				u[i].foreign++;
		}
	}
	free(idx);
	*out = u;
	*n_out = n;
	return 0;
}

int smt_read_pkeys(struct smt *s, uint64_t port_guid, uint16_t *pkeys, size_t max,
		   struct loom_err *err)
{
	unsigned int cap, used;
	struct port_cache *p;
	int rc;

	rc = ib_port_pkey_capacity(s, port_guid, &cap, &used, err);
	if (rc < 0)
		return rc;
	p = port_find(s, port_guid);
	if (!p)
		return -ENOENT;
	for (unsigned int e = 0; e < p->n_pkeys && e < max; e++)
		pkeys[e] = p->pkeys[e];
	return (int)(p->n_pkeys < max ? p->n_pkeys : max);
}

int smt_write(struct smt *s, const struct sm_desired *d, struct loom_err *err)
{
	struct partitions_file *f = NULL;
	char *section = NULL, *text = NULL;
	size_t section_len, text_len, *idx = NULL, n = 0;
	int rc;

	rc = partitions_validate(d, err);
	if (rc < 0)
		return rc;
	rc = partitions_file_read(s->sm.partitions_file, &f, err);
	if (rc < 0)
		return rc;
	/* The operator's partitions outside the section keep their P_Keys. */
	for (size_t i = 0; i < d->n_partitions; i++) {
		for (size_t j = 0; j < f->n_foreign; j++) {
			char field[64];

			if (f->foreign[j].pkey != d->partitions[i].pkey)
				continue;
			snprintf(field, sizeof(field), "partitions[%zu].pkey", i);
			rc = loom_err_set(err, LOOM_E_CONFLICT, field,
					  "P_Key 0x%04x is already used by the operator's partition '%s' in %s (outside loom's section); choose another P_Key or remove that partition",
					  d->partitions[i].pkey, f->foreign[j].name, s->sm.partitions_file);
			goto out;
		}
	}
	rc = partitions_render(d, 0, &section, &section_len);
	if (rc < 0) {
		loom_err_set(err, LOOM_E_INTERNAL, "partitions",
			     "cannot render the partitions: %s", strerror(-rc));
		goto out;
	}
	/* A no-op resync: the file already says exactly this. */
	if (f->has_section && f->section_intact &&
	    f->sec_end - f->sec_begin == section_len &&
	    !memcmp(f->text + f->sec_begin, section, section_len)) {
		rc = watch_found(s, f->loom, f->n_loom);
		if (rc == 0)
			rc = watch_desired(s, d);
		if (rc < 0)
			goto out;
		free(s->last_section);
		s->last_section = section;
		s->last_len = section_len;
		section = NULL;
		s->last_write_changed = false;
		rc = 0;
		goto out;
	}
	/* Every member must be a port of this fabric. */
	rc = collect_ports(s, d, false, &idx, &n);
	if (rc < 0)
		goto out;
	rc = ports_describe(s, idx, n, err);
	if (rc < 0)
		goto out;
	for (size_t i = 0; i < d->n_partitions; i++) {
		for (size_t m = 0; m < d->partitions[i].n_members; m++) {
			const struct pkey_member *pm = &d->partitions[i].members[m];
			struct port_cache *p = port_find(s, pm->guid);
			char label[160], field[96];

			if (!p)
				continue;
			if (p->missing || p->io_err) {
				member_label(pm, label, sizeof(label));
				snprintf(field, sizeof(field), "partitions[%zu].members[%zu].guid", i, m);
				if (p->missing)
					rc = loom_err_set(err, LOOM_E_NOT_FOUND, field,
							  "port GUID %s is not in the fabric of subnet manager %s (the SA has no such port); check the topology's hca_ports and the cabling",
							  label, s->sm.name);
				else
					rc = loom_err_set(err, LOOM_E_UNAVAILABLE, field,
							  "cannot reach port %s to check it: %s",
							  label, strerror(-p->io_err));
				goto out;
			}
		}
	}
	/* Old and new P_Keys count as loom's when counting foreign entries. */
	rc = watch_found(s, f->loom, f->n_loom);
	if (rc < 0)
		goto out;
	rc = smt_check_capacity(s, d, err);
	if (rc < 0)
		goto out;
	rc = partitions_splice(f, section, section_len, &text, &text_len);
	if (rc < 0)
		goto out;
	rc = partitions_file_write(s->sm.partitions_file, text, text_len, err);
	if (rc < 0)
		goto out;
	rc = watch_desired(s, d);
	if (rc < 0)
		goto out;
	free(s->last_section);
	s->last_section = section;
	s->last_len = section_len;
	section = NULL;
	s->last_write_changed = true;
	log_debug(LOG_SUB_OPENSM, "smt %s: wrote %zu partitions to %s", s->sm.name,
		  d->n_partitions, s->sm.partitions_file);
out:
	free(idx);
	free(text);
	free(section);
	partitions_file_free(&f);
	return rc;
}

/* Records that @pkey (and @guid, 0: the whole partition) is left out, and why. */
static int exclude(struct smt_excluded **ex, size_t *n, uint16_t pkey, uint64_t guid, const char *why)
{
	struct smt_excluded *p = realloc(*ex, (*n + 1) * sizeof(*p));

	if (!p)
		return -ENOMEM;
	*ex = p;
	p[*n].pkey = pkey;
	p[*n].guid = guid;
	snprintf(p[*n].reason, sizeof(p[*n].reason), "%s", why);
	(*n)++;
	return 0;
}

/* Drops the partitions marked with pkey 0 and the members marked with GUID 0. */
static void contain_compact(struct sm_desired *k)
{
	size_t out = 0;

	for (size_t i = 0; i < k->n_partitions; i++) {
		struct sm_partition *p = &k->partitions[i];
		size_t kept = 0;

		if (!p->pkey) {
			free(p->members);
			continue;
		}
		for (size_t m = 0; m < p->n_members; m++)
			if (p->members[m].guid)
				p->members[kept++] = p->members[m];
		p->n_members = kept;
		k->partitions[out++] = *p;
	}
	k->n_partitions = out;
}

/* Partitions that cannot be written at all: OpenSM's rules, the operator's P_Keys. */
static int contain_partitions(struct smt *s, const struct partitions_file *f, struct sm_desired *k,
			      struct smt_excluded **ex, size_t *n_ex)
{
	for (size_t i = 0; i < k->n_partitions; i++) {
		struct sm_desired one = { .partitions = &k->partitions[i], .n_partitions = 1 };
		struct loom_err e = { 0 };
		uint16_t pkey = k->partitions[i].pkey;

		for (size_t j = 0; !e.msg[0] && j < f->n_foreign; j++)
			if (f->foreign[j].pkey == pkey)
				loom_err_set(&e, LOOM_E_CONFLICT, "pkey",
					     "P_Key 0x%04x is already used by the operator's partition '%s' in %s (outside loom's section); choose another P_Key or remove that partition",
					     pkey, f->foreign[j].name, s->sm.partitions_file);
		if (!e.msg[0])
			partitions_validate(&one, &e);
		if (!e.msg[0])
			continue;
		if (exclude(ex, n_ex, pkey, 0, e.msg))
			return -ENOMEM;
		k->partitions[i].pkey = 0;
	}
	return 0;
}

/* Members the fabric does not have, or that cannot be reached to check them. */
static int contain_members(struct smt *s, struct sm_desired *k, struct smt_excluded **ex, size_t *n_ex)
{
	for (size_t i = 0; i < k->n_partitions; i++) {
		struct sm_partition *sp = &k->partitions[i];

		for (size_t m = 0; sp->pkey && m < sp->n_members; m++) {
			struct pkey_member *pm = &sp->members[m];
			struct port_cache *p = port_find(s, pm->guid);
			char label[160], why[256];

			if (!p || (!p->missing && !p->io_err))
				continue;
			member_label(pm, label, sizeof(label));
			if (p->missing)
				snprintf(why, sizeof(why), "opensm: port GUID %s is not in the fabric of subnet "
					 "manager %s; the partition's other members are programmed", label, s->sm.name);
			else
				snprintf(why, sizeof(why), "opensm: cannot reach port %s to check it (%s); the "
					 "partition's other members are programmed", label, strerror(-p->io_err));
			if (exclude(ex, n_ex, sp->pkey, pm->guid, why))
				return -ENOMEM;
			pm->guid = 0;
		}
	}
	return 0;
}

static bool port_carries(const struct port_cache *p, uint16_t pkey)
{
	for (unsigned int e = 0; e < p->n_pkeys; e++)
		if ((p->pkeys[e] & PKEY_BASE_MASK) == pkey)
			return true;
	return false;
}

/*
 * One port over capacity: it keeps the P_Keys it carries now, then the
 * lowest others while they fit; the rest leave it.
 */
static int contain_port(struct smt *s, struct port_cache *p, struct sm_desired *k, struct smt_excluded **ex,
			size_t *n_ex)
{
	unsigned int want = 0, foreign = 0, room, taken = 0;
	struct loom_err e = { 0 };
	const struct pkey_member *first = NULL;

	for (unsigned int e2 = 0; e2 < p->n_pkeys; e2++) {
		uint16_t base = p->pkeys[e2] & PKEY_BASE_MASK;

		if (base && !pkey_in_desired(k, base) && !pkey_watched(s, base))
			foreign++;
	}
	for (size_t i = 0; i < k->n_partitions; i++)
		for (size_t m = 0; m < k->partitions[i].n_members; m++)
			if (k->partitions[i].members[m].guid == p->guid) {
				want++;
				first = first ? first : &k->partitions[i].members[m];
			}
	if (!first || partitions_port_fits(&e, "guid", p->guid, first->node, first->port, want, foreign,
					   p->cap) == 0)
		return 0;
	room = foreign < p->cap ? p->cap - foreign : 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < k->n_partitions; i++) {
			struct sm_partition *sp = &k->partitions[i];

			for (size_t m = 0; m < sp->n_members; m++) {
				if (sp->members[m].guid != p->guid || port_carries(p, sp->pkey) != (pass == 0))
					continue;
				if (taken < room) {
					taken++;
					continue;
				}
				if (exclude(ex, n_ex, sp->pkey, p->guid, e.msg))
					return -ENOMEM;
				sp->members[m].guid = 0;
			}
		}
	return 0;
}

int smt_contain(struct smt *s, const struct sm_desired *d, struct sm_desired **kept, struct smt_excluded **ex,
		size_t *n_ex, struct loom_err *err)
{
	struct partitions_file *f = NULL;
	struct sm_desired *k = NULL;
	size_t *idx = NULL, n = 0;
	int rc;

	*kept = NULL;
	*ex = NULL;
	*n_ex = 0;
	rc = partitions_file_read(s->sm.partitions_file, &f, err);
	if (rc < 0)
		return rc;
	rc = -ENOMEM;
	if (!(k = sm_desired_dup(d)) || contain_partitions(s, f, k, ex, n_ex))
		goto out;
	contain_compact(k);
	/* Old and new P_Keys count as loom's when counting foreign entries. */
	rc = watch_found(s, f->loom, f->n_loom);
	if (rc == 0)
		rc = collect_ports(s, k, false, &idx, &n);
	if (rc == 0)
		rc = ports_describe(s, idx, n, err);
	if (rc == 0)
		rc = ports_read_pkeys(s, idx, n, err);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	if (contain_members(s, k, ex, n_ex))
		goto out;
	contain_compact(k);
	for (size_t i = 0; i < n; i++) {
		struct port_cache *p = &s->ports[idx[i]];

		if (p->info && p->pkeys_ok && contain_port(s, p, k, ex, n_ex))
			goto out;
	}
	contain_compact(k);
	rc = 0;
	*kept = k;
	k = NULL;
out:
	if (rc < 0 && rc != -ENOMEM && !err->msg[0])
		loom_err_set(err, LOOM_E_INTERNAL, "partitions", "%s", strerror(-rc));
	if (rc == -ENOMEM)
		loom_err_set(err, LOOM_E_INTERNAL, "partitions", "out of memory");
	if (rc < 0) {
		free(*ex);
		*ex = NULL;
		*n_ex = 0;
	}
	sm_desired_free(&k);
	free(idx);
	partitions_file_free(&f);
	return rc;
}

static int sm_act_count(struct smt *s, uint32_t *count, struct loom_err *err)
{
	struct mad_port_info pi;
	struct mad_sm_info si;
	struct mad_req r = { .kind = RQ_SM_INFO };
	int rc;

	rc = local_port_info(s, &pi, err);
	if (rc < 0)
		return rc;
	r.dlid = pi.sm_lid;
	rc = mad_run(s, &r, 1, pi.sm_lid);
	if (rc == 0)
		rc = r.result;
	if (rc == 0)
		rc = mad_sm_info_decode(r.data, SMP_DATA_SIZE, &si);
	if (rc < 0)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "",
				    "cannot read SMInfo from the master SM at LID %u: %s",
				    pi.sm_lid, strerror(-rc));
	*count = si.act_count;
	return 0;
}

int smt_signal(struct smt *s, struct loom_err *err)
{
	unsigned long long start;
	pid_t pid;
	int rc;

	rc = sm_pid_read(s, &pid, &start, err);
	if (rc < 0)
		return rc;
	/* Best effort: without the counter smt_wait_sweep still waits for a change. */
	if (sm_act_count(s, &s->act_before, NULL) < 0)
		s->act_before = 0;
	if (kill(pid, SIGHUP) < 0)
		return loom_err_set(err, LOOM_E_UNAVAILABLE, "pid_file",
				    "cannot signal OpenSM (pid %ld from %s): %s",
				    (long)pid, s->sm.pid_file, strerror(errno));
	s->signalled = true;
	log_debug(LOG_SUB_OPENSM, "smt %s: SIGHUP to opensm pid %ld", s->sm.name, (long)pid);
	return 0;
}

int smt_wait_sweep(struct smt *s, int timeout_ms, struct loom_err *err)
{
	uint64_t t0 = (uint64_t)mono_ms(), last_change = 0;
	uint32_t prev = s->act_before, cur;
	bool moved = false;
	const unsigned int settle_ms = 40, step_ms = 10;

	/*
	 * OpenSM counts every SMP it handles in ActCount, our own SMInfo reads
	 * included (one per read): a step of more than that is a sweep.
	 */
	for (;;) {
		uint64_t now;

		if (sm_act_count(s, &cur, NULL) == 0) {
			now = (uint64_t)mono_ms();
			if (cur - prev > 2) {
				moved = true;
				last_change = now;
			} else if (moved && now - last_change >= settle_ms) {
				s->signalled = false;
				return (int)(last_change - t0);
			}
			prev = cur;
		}
		now = (uint64_t)mono_ms();
		if ((int)(now - t0) >= timeout_ms)
			return loom_err_set(err, LOOM_E_TIMEOUT, "",
					    "OpenSM %s did not %s a sweep within %d ms after SIGHUP",
					    s->sm.name, moved ? "finish" : "start", timeout_ms);
		sleep_ms(step_ms);
	}
}

static bool table_has(const struct port_cache *p, uint16_t entry)
{
	for (unsigned int e = 0; e < p->n_pkeys; e++)
		if (p->pkeys[e] == entry)
			return true;
	return false;
}

static void pstatus_problem(struct smt_pstatus *st, enum smt_pstate state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void pstatus_problem(struct smt_pstatus *st, enum smt_pstate state, const char *fmt, ...)
{
	va_list ap;

	if (state == SMT_ERROR || st->state == SMT_PROGRAMMED)
		st->state = state > st->state ? state : st->state;
	if (st->reason[0])
		return;
	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
}

static bool is_member(const struct sm_partition *p, uint64_t guid, enum membership *m)
{
	size_t lo = 0, hi = p->n_members;

	/* compile sorts members by GUID; fall back to a scan for other callers. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (p->members[mid].guid == guid) {
			*m = p->members[mid].membership;
			return true;
		}
		if (p->members[mid].guid < guid)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = 0; i < p->n_members; i++)
		if (p->members[i].guid == guid) {
			*m = p->members[i].membership;
			return true;
		}
	return false;
}

int smt_verify(struct smt *s, const struct sm_desired *d, struct smt_pstatus **out,
	       size_t *n_out, struct loom_err *err)
{
	struct smt_pstatus *st = NULL;
	size_t *idx = NULL, n = 0, n_st = 0, n_removed = 0;
	int rc, bad = 0;

	rc = watch_desired(s, d);
	if (rc < 0)
		return rc;
	rc = collect_ports(s, d, true, &idx, &n);
	if (rc < 0)
		return rc;
	rc = ports_describe(s, idx, n, err);
	if (rc == 0)
		rc = ports_read_pkeys(s, idx, n, err);
	if (rc < 0)
		goto out;
	for (size_t w = 0; w < s->n_watch_pkeys; w++)
		if (!pkey_in_desired(d, s->watch_pkeys[w]))
			n_removed++;
	st = calloc(d->n_partitions + n_removed + 1, sizeof(*st));
	if (!st) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->n_partitions; i++) {
		const struct sm_partition *p = &d->partitions[i];
		struct smt_pstatus *ps = &st[n_st++];

		ps->pkey = p->pkey;
		snprintf(ps->name, sizeof(ps->name), "%s", p->name);
		snprintf(ps->tenant, sizeof(ps->tenant), "%s", p->tenant);
		snprintf(ps->segment, sizeof(ps->segment), "%s", p->segment);
		ps->state = SMT_PROGRAMMED;
		ps->ports_total = (unsigned int)p->n_members;
		for (size_t k = 0; k < n; k++) {
			struct port_cache *pc = &s->ports[idx[k]];
			enum membership want = MEMBERSHIP_DEFAULT;
			bool member = is_member(p, pc->guid, &want);
			bool full, limited;

			if (pc->missing || !pc->pkeys_ok) {
				if (!member)
					continue;	/* a port gone from the fabric carries nothing */
				if (pc->missing)
					pstatus_problem(ps, SMT_ERROR,
							"port 0x%016" PRIx64 " is not in the fabric",
							pc->guid);
				else
					pstatus_problem(ps, SMT_ERROR,
							"cannot read the P_Key table of port 0x%016" PRIx64 " (LID %u): %s",
							pc->guid, pc->lid, strerror(-pc->io_err));
				continue;
			}
			full = table_has(pc, (uint16_t)(p->pkey | PKEY_FULL_BIT));
			limited = table_has(pc, p->pkey);
			if (!member) {
				if (full || limited)
					pstatus_problem(ps, SMT_PENDING,
							"port 0x%016" PRIx64 " (LID %u) still carries P_Key 0x%04x",
							pc->guid, pc->lid, p->pkey);
				continue;
			}
			if (want == MEMBERSHIP_FULL && full && !limited)
				ps->ports_ok++;
			else if (want == MEMBERSHIP_LIMITED && limited && !full)
				ps->ports_ok++;
			else if (!full && !limited)
				pstatus_problem(ps, SMT_PENDING,
						"port 0x%016" PRIx64 " (LID %u) does not carry P_Key 0x%04x yet",
						pc->guid, pc->lid, p->pkey);
			else
				pstatus_problem(ps, SMT_PENDING,
						"port 0x%016" PRIx64 " (LID %u) carries P_Key 0x%04x as %s, not %s",
						pc->guid, pc->lid, p->pkey,
						full ? "full" : "limited",
						want == MEMBERSHIP_FULL ? "full" : "limited");
		}
		if (ps->state != SMT_PROGRAMMED)
			bad++;
	}
	for (size_t w = 0; w < s->n_watch_pkeys; w++) {
		uint16_t pkey = s->watch_pkeys[w];
		struct smt_pstatus *ps;

		if (pkey_in_desired(d, pkey))
			continue;
		ps = &st[n_st++];
		ps->pkey = pkey;
		snprintf(ps->name, sizeof(ps->name), "%s", s->watch_names[w]);
		ps->removed = true;
		ps->state = SMT_PROGRAMMED;
		for (size_t k = 0; k < n; k++) {
			struct port_cache *pc = &s->ports[idx[k]];

			if (pc->missing || !pc->pkeys_ok)
				continue;
			ps->ports_total++;
			if (table_has(pc, (uint16_t)(pkey | PKEY_FULL_BIT)) || table_has(pc, pkey))
				pstatus_problem(ps, SMT_PENDING,
						"port 0x%016" PRIx64 " (LID %u) still carries removed P_Key 0x%04x",
						pc->guid, pc->lid, pkey);
			else
				ps->ports_ok++;
		}
		if (ps->state != SMT_PROGRAMMED)
			bad++;
	}
	/* A removed P_Key seen gone from every port needs no more watching. */
	for (size_t i = d->n_partitions; i < n_st; i++) {
		if (st[i].state != SMT_PROGRAMMED)
			continue;
		for (size_t w = 0; w < s->n_watch_pkeys; w++)
			if (s->watch_pkeys[w] == st[i].pkey) {
				--s->n_watch_pkeys;
				s->watch_pkeys[w] = s->watch_pkeys[s->n_watch_pkeys];
				memcpy(s->watch_names[w], s->watch_names[s->n_watch_pkeys], LOOM_NAME_MAX);
				break;
			}
	}
	*out = st;
	*n_out = n_st;
	st = NULL;
	rc = bad;
out:
	free(st);
	free(idx);
	return rc;
}

int smt_converge(struct smt *s, const struct sm_desired *d, int timeout_ms,
		 struct smt_pstatus **out, size_t *n_out, struct loom_err *err)
{
	uint64_t t0 = (uint64_t)mono_ms();
	int rc;

	for (;;) {
		rc = smt_verify(s, d, out, n_out, err);
		if (rc <= 0)
			return rc;
		if ((int)((uint64_t)mono_ms() - t0) >= timeout_ms)
			return rc;
		smt_pstatus_free(out);
		sleep_ms(20);
	}
}

int smt_changed_by_hand(struct smt *s, bool *changed, struct loom_err *err)
{
	struct partitions_file *f = NULL;
	int rc;

	rc = partitions_file_read(s->sm.partitions_file, &f, err);
	if (rc == -EBADMSG) {
		/* Markers broken: that is a hand edit; smt_write cannot splice it. */
		*changed = true;
		return rc;
	}
	if (rc < 0)
		return rc;
	if (!f->has_section)
		*changed = s->last_section != NULL;
	else if (!f->section_intact)
		*changed = true;
	else
		*changed = s->last_section &&
			   (f->sec_end - f->sec_begin != s->last_len ||
			    memcmp(f->text + f->sec_begin, s->last_section, s->last_len));
	partitions_file_free(&f);
	return 0;
}

int smt_sm_restarted(struct smt *s, bool *restarted, struct loom_err *err)
{
	unsigned long long start;
	pid_t pid;
	int rc;

	rc = sm_pid_read(s, &pid, &start, err);
	if (rc < 0)
		return rc;
	*restarted = pid != s->sm_pid || start != s->sm_start;
	if (*restarted) {
		log_info("subnet manager %s: OpenSM restarted (pid %ld -> %ld)", s->sm.name,
			 (long)s->sm_pid, (long)pid);
		s->sm_pid = pid;
		s->sm_start = start;
		ports_forget(s);
	}
	return 0;
}
