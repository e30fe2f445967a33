/*
 * overlay/frr.c: the FRR target, the half that talks to FRR.  It owns the
 * target's handle and its view of FRR (what frr_plan diffs against, kept
 * between runs and dropped when a daemon restarted), observe / plan / apply
 * / verify, and noticing restarts from the daemons' pids.  How the words
 * reach FRR is the transports' (frr_vty.c: the daemons' vty sockets;
 * frr_vtysh.c: vtysh runs and the long-lived session); what the words are
 * is frr_config.c's.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lib/child.h"
#include "lib/log.h"
#include "overlay/frr_priv.h"

#define FRR_TIMEOUT_MS_DEFAULT 30000
/* Past this many lines a batch goes through vtysh -f even in session mode:
 * the interactive vtysh echoes and handles line by line, which costs more
 * than one vtysh start-up for large batches (20,000 lines: 5.1 s in the
 * session, 1.1 s with -f; one VNI: 7.5 ms in the session, 79 ms with -f). */
#define FRR_SESSION_LINES_MAX 256

struct frr_target *frr_target_open(const struct topo_vtep *vtep, struct loom_err *err)
{
	struct frr_target *t;

	if (!vtep->vty_dir[0]) {
		loom_err_set(err, LOOM_E_TOPOLOGY, "vty_dir",
			     "VTEP %s has no FRR vty socket dir", vtep->name);
		return NULL;
	}
	if (!vtep->asn) {
		loom_err_set(err, LOOM_E_TOPOLOGY, "asn", "VTEP %s has no ASN", vtep->name);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (!t) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
		return NULL;
	}
	t->vtep = *vtep;
	snprintf(t->vtysh, sizeof(t->vtysh), "vtysh");
	t->timeout_ms = FRR_TIMEOUT_MS_DEFAULT;
	t->mode = FRR_APPLY_SESSION;
	t->sess_fd = -1;
	return t;
}

void frr_target_close(struct frr_target **t)
{
	if (!t || !*t)
		return;
	frr_session_stop(*t);
	frr_state_release(&(*t)->view);
	free(*t);
	*t = NULL;
}

void frr_target_invalidate(struct frr_target *t)
{
	t->view_valid = false;
	frr_state_release(&t->view);
}

/* bgpd or zebra is not the one we knew: forget everything about it. */
static void target_reset(struct frr_target *t)
{
	frr_target_invalidate(t);
	frr_session_stop(t);	/* its vtysh lost the old daemon */
}

void frr_target_set_vtysh(struct frr_target *t, const char *path)
{
	snprintf(t->vtysh, sizeof(t->vtysh), "%s", path);
}

void frr_target_set_timeout(struct frr_target *t, int timeout_ms)
{
	t->timeout_ms = timeout_ms > 0 ? timeout_ms : FRR_TIMEOUT_MS_DEFAULT;
}

void frr_target_set_mode(struct frr_target *t, enum frr_apply_mode mode)
{
	t->mode = mode;
}

void frr_daemon_pids(const struct frr_target *t, pid_t *bgpd, pid_t *zebra)
{
	*bgpd = t->bgpd_pid;
	*zebra = t->zebra_pid;
}

int frr_observe(struct frr_target *t, struct frr_state *out, struct loom_err *err)
{
	static const char *const args[] = { "-c", "show running-config bgpd" };
	struct child_result res;
	struct frr_state st;
	pid_t bgpd, zebra;
	int rc;

	frr_target_invalidate(t);
	/* The pids before the read: a restart during it voids the view. */
	rc = frr_vty_pids(t, &bgpd, &zebra, err);
	if (rc < 0 && rc != -EAGAIN)
		return rc;
	rc = frr_vtysh_run(t, "bgpd", args, 2, "show running-config", &res, err);
	if (rc < 0)
		return rc;
	rc = frr_config_parse(res.out, t->vtep.asn, &st, err);
	child_result_release(&res);
	if (rc == -EINVAL && err)
		snprintf(err->field, sizeof(err->field), "asn");
	if (rc < 0)
		return rc;
	/* zebra's half of the tenant VRFs: `vrf lvN` / `vni N`. */
	rc = frr_vtysh_run(t, "zebra", args, 2, "show running-config", &res, err);
	if (rc >= 0) {
		rc = frr_config_parse_zebra(res.out, &st);
		child_result_release(&res);
	}
	if (rc < 0) {
		frr_state_release(&st);
		return rc;
	}
	if (bgpd && zebra && frr_state_copy(&st, &t->view) == 0) {
		t->view_valid = true;
		t->view_bgpd = bgpd;
		t->view_zebra = zebra;
	}
	if (out)
		*out = st;
	else
		frr_state_release(&st);
	return 0;
}

int frr_plan(struct frr_target *t, const struct vtep_desired *want,
	     struct frr_plan *out, struct loom_err *err)
{
	pid_t bgpd, zebra;
	int rc;

	if (t->view_valid) {
		rc = frr_vty_pids(t, &bgpd, &zebra, err);
		if (rc < 0 && rc != -EAGAIN)
			return rc;
		if (rc < 0 || bgpd != t->view_bgpd || zebra != t->view_zebra)
			target_reset(t);
	}
	if (!t->view_valid) {
		rc = frr_observe(t, NULL, err);
		if (rc < 0)
			return rc;
	}
	if (!t->view.asn) {
		rc = loom_err_set(err, LOOM_E_STATE, "asn",
				  "FRR for VTEP %s at %s has no `router bgp %u`: configure the underlay first",
				  t->vtep.name, t->vtep.vty_dir, t->vtep.asn);
		frr_target_invalidate(t);
		return rc;
	}
	rc = frr_plan_build(&t->view, want, t->vtep.asn, out);
	if (rc == -EINVAL)
		return loom_err_set(err, LOOM_E_PARAMS, "vnis",
				    "a desired RD/RT for VTEP %s is not a single RD/RT token", t->vtep.name);
	if (rc < 0)
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
	return rc;
}

int frr_apply(struct frr_target *t, const struct frr_plan *plan, struct loom_err *err)
{
	int rc;

	if (!plan->n_lines)
		return 0;
	/*
	 * The session and the vty batch talk to bgpd alone; a tenant VRF's
	 * `vrf lvN` / `vni N` lines are zebra's.  They come with a tenant's
	 * first routed segment on the VTEP or its last one's removal: one
	 * vtysh -f to every daemon then.
	 */
	if (plan->zebra)
		rc = frr_vtysh_apply_file(t, plan, err);
	else switch (t->mode) {
	case FRR_APPLY_ARGS:
		rc = frr_vtysh_apply_args(t, plan, err);
		break;
	case FRR_APPLY_SESSION:
		rc = plan->n_lines > FRR_SESSION_LINES_MAX ? frr_vtysh_apply_file(t, plan, err)
							   : frr_session_apply(t, plan, err);
		break;
	case FRR_APPLY_VTY:
		rc = frr_vty_apply(t, plan, err);
		break;
	default:
		rc = frr_vtysh_apply_file(t, plan, err);
		break;
	}
	if (rc < 0) {
		/* FRR may have taken part of it: read it again next time. */
		frr_target_invalidate(t);
		return rc;
	}
	log_debug(LOG_SUB_FRR, "frr %s: applied %zu changes in %zu lines",
		  t->vtep.name, plan->n_changes, plan->n_lines);
	if (t->view_valid) {
		struct frr_state next;

		if (frr_state_copy(&plan->after, &next) == 0) {
			frr_state_release(&t->view);
			t->view = next;
		} else {
			frr_target_invalidate(t);
		}
	}
	return 0;
}

int frr_sync(struct frr_target *t, const struct vtep_desired *want, struct loom_err *err)
{
	struct frr_plan plan;
	int n, rc;

	n = frr_plan(t, want, &plan, err);
	if (n == 0)
		frr_plan_release(&plan);	/* nothing to do, but it holds the state after */
	if (n <= 0)
		return n;
	rc = frr_apply(t, &plan, err);
	frr_plan_release(&plan);
	return rc < 0 ? rc : n;
}

int frr_zebra_vni_count(struct frr_target *t, struct loom_err *err)
{
	json_t *j = frr_vty_json(t, "zebra", "show evpn json", err);
	json_t *n;
	int rc;

	if (!j)
		return -EPROTO;
	n = json_object_get(j, "numL2Vnis");
	if (json_is_integer(n) && json_integer_value(n) >= 0 && json_integer_value(n) <= INT_MAX) {
		rc = (int)json_integer_value(n);
	} else {
		rc = loom_err_set(err, LOOM_E_INTERNAL, "", "FRR for VTEP %s: no numL2Vnis in `show evpn json`",
				  t->vtep.name);
	}
	json_decref(j);
	return rc;
}

int frr_bgp_vni_in_kernel(struct frr_target *t, uint32_t vni, struct loom_err *err)
{
	char cmd[64];
	json_t *j;
	int rc;

	snprintf(cmd, sizeof(cmd), "show bgp l2vpn evpn vni %" PRIu32 " json", vni);
	j = frr_vty_json(t, "bgpd", cmd, err);
	if (!j)
		return -EPROTO;
	rc = json_is_string(json_object_get(j, "inKernel"))
	     && strcmp(json_string_value(json_object_get(j, "inKernel")), "True") == 0;
	json_decref(j);
	return rc;
}

int frr_verify(struct frr_target *t, const struct vtep_desired *want, bool need_kernel,
	       struct frr_vni_status **out, size_t *n_out, struct loom_err *err)
{
	struct frr_bgp_vnis have;
	json_t *bgp = NULL, *zebra = NULL;
	int rc;

	/*
	 * Straight to the daemons' vty sockets: no vtysh per poll.  The
	 * verdict is bgpd's; zebra's JSON (per VNI detail, costly for zebra
	 * with many VNIs while it is still learning them) only adds the
	 * remote VTEP counts, so it is read once bgpd verified everything.
	 */
	bgp = frr_vty_json(t, "bgpd", "show bgp l2vpn evpn vni json", err);
	if (!bgp)
		return -EPROTO;
	rc = frr_bgp_vnis_parse(bgp, NULL, &have, err);
	if (rc < 0)
		goto out;
	rc = frr_verify_compare(&have, want, need_kernel, out, n_out);
	frr_bgp_vnis_release(&have);
	if (rc == 0) {
		zebra = frr_vty_json(t, "zebra", "show evpn vni json", err);
		if (!zebra) {
			rc = -EPROTO;
		} else {
			free(*out);
			*out = NULL;
			*n_out = 0;
			rc = frr_bgp_vnis_parse(bgp, zebra, &have, err);
			if (rc == 0) {
				rc = frr_verify_compare(&have, want, need_kernel, out, n_out);
				frr_bgp_vnis_release(&have);
			}
		}
	}
	if (rc == -ENOMEM)
		loom_err_set(err, LOOM_E_INTERNAL, "", "out of memory");
out:
	json_decref(bgp);
	json_decref(zebra);
	return rc;
}

int frr_restarted(struct frr_target *t, struct loom_err *err)
{
	pid_t bgpd, zebra;
	int rc;

	rc = frr_vty_pids(t, &bgpd, &zebra, err);
	if (rc == -EAGAIN)
		return 0;	/* alive but busy: ask again next time */
	if (rc < 0)
		return rc;
	if (!t->pids_known) {
		t->pids_known = true;
		t->bgpd_pid = bgpd;
		t->zebra_pid = zebra;
		return 0;
	}
	if (bgpd == t->bgpd_pid && zebra == t->zebra_pid)
		return 0;
	log_info("frr %s: FRR restarted (bgpd %d -> %d, zebra %d -> %d): re-applying",
		 t->vtep.name, (int)t->bgpd_pid, (int)bgpd, (int)t->zebra_pid, (int)zebra);
	t->bgpd_pid = bgpd;
	t->zebra_pid = zebra;
	target_reset(t);
	return 1;
}

