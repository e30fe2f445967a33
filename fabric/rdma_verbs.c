/*
 * fabric/rdma_verbs.c: loom-rdma-bw, loom's built-in RDMA bandwidth check
 * (libibverbs): RC queue pairs, RDMA WRITE of large messages on several
 * QPs at once for a fixed time, like perftest's ib_write_bw -D.  It takes
 * the same options and prints the same result table, so loomd's runner and
 * parser (fabric/rdma_bw.c) drive either tool.
 *
 *   server: loom-rdma-bw -d mlx5_0 -i 1 -q 4 -s 1048576 -D 5 -p 18515
 *   client: loom-rdma-bw -d mlx5_0 -i 1 -q 4 -s 1048576 -D 5 -p 18515 SERVER
 *
 * The two ends swap their QP numbers, LIDs, GIDs and buffer keys as text
 * lines over one TCP connection, then the client writes into the server's
 * buffer and reports the bytes completed over the wall time.
 *
 * Where it ran: it compiles wherever libibverbs does.  The machines loom is
 * built and tested on have no HCA, no IB kernel stack and no rdma_rxe, so
 * there it only reaches "no RDMA device" (tests/unit/test_rdma_bw.c checks
 * that path); the data path runs only on nodes with an HCA.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>

#include "fabric/rdma_bw.h"
#include "lib/monotime.h"

#define TX_DEPTH 128
#define EXIT_NO_DEVICE 2

struct opts {
	const char *device;	/* NULL = the first one */
	int ib_port;
	unsigned int qps;
	size_t size;
	unsigned int duration_s;
	unsigned int tcp_port;
	int gid_index;		/* RoCE; -1 = none (InfiniBand) */
	bool gbits;
	const char *server;	/* NULL = this is the server end */
};

struct peer {
	uint16_t lid;
	uint32_t qpn, psn, rkey;
	uint64_t addr;
	union ibv_gid gid;
};

struct ctx {
	struct ibv_context *ib;
	struct ibv_pd *pd;
	struct ibv_mr *mr;
	struct ibv_cq *cq;
	struct ibv_qp **qp;
	unsigned int n_qp;
	void *buf;
	struct ibv_port_attr port;
	union ibv_gid gid;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{ "ib-dev", required_argument, NULL, 'd' },
		{ "ib-port", required_argument, NULL, 'i' },
		{ "qp", required_argument, NULL, 'q' },
		{ "size", required_argument, NULL, 's' },
		{ "duration", required_argument, NULL, 'D' },
		{ "port", required_argument, NULL, 'p' },
		{ "gid-index", required_argument, NULL, 'x' },
		{ "report_gbits", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct opts){ .ib_port = 1, .qps = 4, .size = 1 << 20, .duration_s = 5,
			    .tcp_port = 18515, .gid_index = -1 };
	while ((c = getopt_long(argc, argv, "d:i:q:s:D:p:x:Fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o->device = optarg; break;
		case 'i': o->ib_port = atoi(optarg); break;
		case 'q': o->qps = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 's': o->size = strtoul(optarg, NULL, 10); break;
		case 'D': o->duration_s = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'p': o->tcp_port = (unsigned int)strtoul(optarg, NULL, 10); break;
		case 'x': o->gid_index = atoi(optarg); break;
		case 'g': o->gbits = true; break;
		case 'F': break;	/* perftest's flag; nothing to ignore here */
		default:
			fprintf(stderr, "usage: loom-rdma-bw [-d DEV] [-i PORT] [-q QPS] [-s BYTES] [-D SECONDS]"
				" [-p TCPPORT] [-x GIDINDEX] [--report_gbits] [SERVER]\n");
			return -EINVAL;
		}
	}
	if (optind < argc)
		o->server = argv[optind];
	if (o->ib_port < 1 || o->qps < 1 || o->qps > 64 || o->size < 4096 ||
	    o->size > (1UL << 30) || o->duration_s < 1 || o->tcp_port < 1 || o->tcp_port > 65535) {
		fprintf(stderr, "loom-rdma-bw: port >= 1, 1..64 QPs, 4 KiB..1 GiB messages, >= 1 s, TCP port 1..65535\n");
		return -EINVAL;
	}
	return 0;
}

static int open_device(const struct opts *o, struct ctx *c)
{
	struct ibv_device **list;
	int n = 0, rc = -ENODEV;

	list = ibv_get_device_list(&n);
	if (!list || n == 0) {
		fprintf(stderr, "loom-rdma-bw: no RDMA device found (no HCA or no IB kernel stack on this machine)\n");
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (o->device && strcmp(ibv_get_device_name(list[i]), o->device) != 0)
			continue;
		c->ib = ibv_open_device(list[i]);
		rc = c->ib ? 0 : -errno;
		break;
	}
	if (rc == -ENODEV)
		fprintf(stderr, "loom-rdma-bw: no RDMA device named %s\n", o->device);
out:
	if (list)
		ibv_free_device_list(list);
	return rc;
}

static int setup(const struct opts *o, struct ctx *c)
{
	size_t len = o->size * o->qps;

	if (ibv_query_port(c->ib, (uint8_t)o->ib_port, &c->port)) {
		fprintf(stderr, "loom-rdma-bw: cannot query port %d\n", o->ib_port);
		return -EIO;
	}
	if (c->port.state != IBV_PORT_ACTIVE) {
		fprintf(stderr, "loom-rdma-bw: port %d is not Active\n", o->ib_port);
		return -ENETDOWN;
	}
	if (o->gid_index >= 0 && ibv_query_gid(c->ib, (uint8_t)o->ib_port, o->gid_index, &c->gid)) {
		fprintf(stderr, "loom-rdma-bw: cannot read GID index %d\n", o->gid_index);
		return -EIO;
	}
	if (c->port.link_layer == IBV_LINK_LAYER_ETHERNET && o->gid_index < 0) {
		fprintf(stderr, "loom-rdma-bw: RoCE port: give a GID index with -x\n");
		return -EINVAL;
	}
	c->pd = ibv_alloc_pd(c->ib);
	if (!c->pd || posix_memalign(&c->buf, 4096, len))
		return -ENOMEM;
	memset(c->buf, 0x5a, len);
	c->mr = ibv_reg_mr(c->pd, c->buf, len, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	c->cq = ibv_create_cq(c->ib, (int)(o->qps * TX_DEPTH), NULL, NULL, 0);
	c->qp = calloc(o->qps, sizeof(*c->qp));
	if (!c->mr || !c->cq || !c->qp)
		return -ENOMEM;
	for (unsigned int i = 0; i < o->qps; i++) {
		struct ibv_qp_init_attr init = {
			.send_cq = c->cq, .recv_cq = c->cq, .qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = TX_DEPTH, .max_recv_wr = 1,
				 .max_send_sge = 1, .max_recv_sge = 1 },
		};
		struct ibv_qp_attr attr = {
			.qp_state = IBV_QPS_INIT, .pkey_index = 0, .port_num = (uint8_t)o->ib_port,
			.qp_access_flags = IBV_ACCESS_REMOTE_WRITE,
		};

		c->qp[i] = ibv_create_qp(c->pd, &init);
		if (!c->qp[i])
			return -ENOMEM;
		c->n_qp++;
		if (ibv_modify_qp(c->qp[i], &attr, IBV_QP_STATE | IBV_QP_PKEY_INDEX |
				  IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
			return -EIO;
	}
	return 0;
}

static void teardown(struct ctx *c)
{
	for (unsigned int i = 0; i < c->n_qp; i++)
		ibv_destroy_qp(c->qp[i]);
	free(c->qp);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->mr)
		ibv_dereg_mr(c->mr);
	if (c->pd)
		ibv_dealloc_pd(c->pd);
	free(c->buf);
	if (c->ib)
		ibv_close_device(c->ib);
}

static int tcp_connect(const struct opts *o)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
	struct addrinfo *res = NULL, *ai;
	char port[8];
	int fd = -1, one = 1;

	snprintf(port, sizeof(port), "%u", o->tcp_port);
	if (getaddrinfo(o->server, port, &hints, &res)) {
		fprintf(stderr, "loom-rdma-bw: cannot resolve %s\n", o->server ? o->server : "*");
		return -EINVAL;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0)
			continue;
		if (o->server) {
			if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
				break;
		} else {
			int lfd = fd;

			setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
			fd = -1;
			if (bind(lfd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(lfd, 1) == 0) {
				printf("************************************\n"
				       "* Waiting for client to connect... *\n"
				       "************************************\n");
				fflush(stdout);
				fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			}
			close(lfd);
			if (fd >= 0)
				break;
			continue;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0 && o->server)
		fprintf(stderr, "loom-rdma-bw: cannot connect to %s:%u: server end not listening (yet?)\n",
			o->server, o->tcp_port);
	else if (fd < 0)
		fprintf(stderr, "loom-rdma-bw: cannot listen on TCP port %u\n", o->tcp_port);
	return fd;
}

static int full_io(int fd, void *buf, size_t len, bool wr)
{
	char *p = buf;

	while (len) {
		ssize_t n = wr ? write(fd, p, len) : read(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One fixed-size text line per QP: "LID QPN PSN RKEY ADDR GID\n". */
#define LINE_LEN 96

static int exchange(int fd, struct ctx *c, struct peer *remote)
{
	char line[LINE_LEN + 1];

	for (unsigned int i = 0; i < c->n_qp; i++) {
		char gid[33];

		for (int k = 0; k < 16; k++)
			snprintf(gid + 2 * k, 3, "%02x", c->gid.raw[k]);
		memset(line, ' ', LINE_LEN);
		snprintf(line, sizeof(line), "%04x %06x %06x %08x %016" PRIx64 " %s",
			 c->port.lid, c->qp[i]->qp_num, (unsigned int)((c->qp[i]->qp_num * 7919) & 0xffffff),
			 c->mr->rkey, (uint64_t)(uintptr_t)c->buf, gid);
		line[strlen(line)] = ' ';
		line[LINE_LEN - 1] = '\n';
		if (full_io(fd, line, LINE_LEN, true))
			return -EIO;
	}
	for (unsigned int i = 0; i < c->n_qp; i++) {
		unsigned int lid, qpn, psn, rkey;
		char gid[33];

		if (full_io(fd, line, LINE_LEN, false))
			return -EIO;
		line[LINE_LEN] = '\0';
		if (sscanf(line, "%x %x %x %x %" SCNx64 " %32s", &lid, &qpn, &psn, &rkey,
			   &remote[i].addr, gid) != 6)
			return -EPROTO;
		remote[i].lid = (uint16_t)lid;
		remote[i].qpn = qpn;
		remote[i].psn = psn;
		remote[i].rkey = rkey;
		for (int k = 0; k < 16; k++) {
			unsigned int b;

			sscanf(gid + 2 * k, "%2x", &b);
			remote[i].gid.raw[k] = (uint8_t)b;
		}
	}
	return 0;
}

static int connect_qps(const struct opts *o, struct ctx *c, const struct peer *remote)
{
	for (unsigned int i = 0; i < c->n_qp; i++) {
		struct ibv_qp_attr rtr = {
			.qp_state = IBV_QPS_RTR, .path_mtu = c->port.active_mtu,
			.dest_qp_num = remote[i].qpn, .rq_psn = remote[i].psn,
			.max_dest_rd_atomic = 1, .min_rnr_timer = 12,
			.ah_attr = { .dlid = remote[i].lid, .sl = 0, .port_num = (uint8_t)o->ib_port },
		};
		struct ibv_qp_attr rts = {
			.qp_state = IBV_QPS_RTS, .timeout = 14, .retry_cnt = 7, .rnr_retry = 7,
			.sq_psn = (c->qp[i]->qp_num * 7919) & 0xffffff, .max_rd_atomic = 1,
		};

		if (o->gid_index >= 0) {
			rtr.ah_attr.is_global = 1;
			rtr.ah_attr.grh.dgid = remote[i].gid;
			rtr.ah_attr.grh.sgid_index = (uint8_t)o->gid_index;
			rtr.ah_attr.grh.hop_limit = 64;
		}
		if (ibv_modify_qp(c->qp[i], &rtr, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER) ||
		    ibv_modify_qp(c->qp[i], &rts, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				  IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC)) {
			fprintf(stderr, "loom-rdma-bw: cannot bring QP %u to RTS\n", i);
			return -EIO;
		}
	}
	return 0;
}

/* The client's measurement: keep TX_DEPTH writes in flight per QP for the duration. */
static int run_writes(const struct opts *o, struct ctx *c, const struct peer *remote,
		      uint64_t *done_msgs, double *secs)
{
	unsigned int *inflight = calloc(c->n_qp, sizeof(*inflight));
	struct ibv_wc wc[64];
	double start, stop;
	bool posting = true;
	unsigned int total = 0;
	int rc = 0;

	if (!inflight)
		return -ENOMEM;
	*done_msgs = 0;
	start = mono_s();
	stop = start + o->duration_s;
	while (posting || total) {
		int n;

		for (unsigned int q = 0; posting && q < c->n_qp; q++) {
			while (inflight[q] < TX_DEPTH) {
				struct ibv_sge sge = {
					.addr = (uintptr_t)c->buf + (uint64_t)q * o->size,
					.length = (uint32_t)o->size, .lkey = c->mr->lkey,
				};
				struct ibv_send_wr wr = {
					.wr_id = q, .sg_list = &sge, .num_sge = 1,
					.opcode = IBV_WR_RDMA_WRITE, .send_flags = IBV_SEND_SIGNALED,
					.wr.rdma = { .remote_addr = remote[q].addr + (uint64_t)q * o->size,
						     .rkey = remote[q].rkey },
				}, *bad;

				if (ibv_post_send(c->qp[q], &wr, &bad)) {
					fprintf(stderr, "loom-rdma-bw: post_send failed on QP %u\n", q);
					rc = -EIO;
					goto out;
				}
				inflight[q]++;
				total++;
			}
		}
		n = ibv_poll_cq(c->cq, (int)(sizeof(wc) / sizeof(wc[0])), wc);
		if (n < 0) {
			rc = -EIO;
			goto out;
		}
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				fprintf(stderr, "loom-rdma-bw: completion error: %s\n",
					ibv_wc_status_str(wc[i].status));
				rc = -EIO;
				goto out;
			}
			inflight[wc[i].wr_id]--;
			total--;
			(*done_msgs)++;
		}
		if (posting && mono_s() >= stop)
			posting = false;
	}
	*secs = mono_s() - start;
out:
	free(inflight);
	return rc;
}

static void print_report(const struct opts *o, const struct ctx *c, uint64_t msgs, double secs)
{
	struct rdma_bw_report rep = {
		.device = ibv_get_device_name(c->ib->device), .qps = o->qps,
		.link = c->port.link_layer == IBV_LINK_LAYER_ETHERNET ? "Ethernet" : "IB",
		.duration_s = o->duration_s, .size = o->size, .msgs = msgs, .secs = secs,
		.gbits = o->gbits,
	};
	char buf[2048];

	rdma_bw_format_report(&rep, buf, sizeof(buf));
	fputs(buf, stdout);
}

int main(int argc, char **argv)
{
	struct ctx c = { 0 };
	struct peer *remote = NULL;
	struct opts o;
	uint64_t msgs = 0;
	double secs = 0;
	char done[64];
	int fd = -1, rc, status = 1;

	if (parse_opts(argc, argv, &o) < 0)
		return 1;
	rc = open_device(&o, &c);
	if (rc < 0) {
		status = rc == -ENODEV ? EXIT_NO_DEVICE : 1;
		goto out;
	}
	if (setup(&o, &c) < 0)
		goto out;
	remote = calloc(o.qps, sizeof(*remote));
	fd = tcp_connect(&o);
	if (!remote || fd < 0)
		goto out;
	if (exchange(fd, &c, remote) < 0 || connect_qps(&o, &c, remote) < 0) {
		fprintf(stderr, "loom-rdma-bw: exchange with the other end failed\n");
		goto out;
	}
	/* Barrier: both ends are in RTS before the first write. */
	done[0] = 'R';
	if (full_io(fd, done, 1, true) || full_io(fd, done, 1, false))
		goto out;
	if (o.server) {
		if (run_writes(&o, &c, remote, &msgs, &secs) < 0)
			goto out;
		memset(done, 0, sizeof(done));
		snprintf(done, sizeof(done), "%" PRIu64 " %.9f", msgs, secs);
		if (full_io(fd, done, sizeof(done), true))
			goto out;
	} else {
		/* The server end is passive: it learns the result from the client. */
		if (full_io(fd, done, sizeof(done), false))
			goto out;
		done[sizeof(done) - 1] = '\0';
		if (sscanf(done, "%" SCNu64 " %lf", &msgs, &secs) != 2 || secs <= 0)
			goto out;
	}
	print_report(&o, &c, msgs, secs);
	status = 0;
out:
	if (fd >= 0)
		close(fd);
	free(remote);
	teardown(&c);
	return status;
}
