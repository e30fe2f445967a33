/*
 * src/readiness.c: what loomd tells systemd, and when (see readiness.h).
 * A target that cannot be reached (a VTEP whose namespace is not there)
 * still finishes a run, in error: readiness means loomd has looked at
 * every target once, not that the fabric is healthy; `loomctl status`
 * says what is not.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/notify.h"
#include "src/readiness.h"
#include "src/reconcile.h"

static void check_ready(struct loomd *d)
{
	char waiting[200];
	size_t done, total = 0;

	if (d->ready)
		return;
	if (d->rec) {
		done = reconciler_first_runs(d->rec, &total, waiting, sizeof(waiting));
		if (done < total) {
			notify_status("waiting for the first run of %zu of %zu targets: %s", total - done, total,
				      waiting);
			return;
		}
	}
	d->ready = true;
	notify_ready();
	if (d->rec)
		notify_status("ready: %zu targets ran once; serving %s", total, d->cfg.socket);
	else
		notify_status("ready (reconcile = no): serving %s", d->cfg.socket);
}

void loomd_readiness_started(struct loomd *d)
{
	size_t total = 0;

	/* Said before the main loop can send READY=1, however fast the
	 * workers are; check_ready then names those still running. */
	if (d->ready || !d->rec)
		return;
	reconciler_first_runs(d->rec, &total, NULL, 0);
	notify_status("starting the first run of %zu targets", total);
}

static void on_watchdog(struct loomd *d)
{
	uint64_t ticks;

	if (read(d->watchdog_fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("watchdog timer: %s", strerror(errno));
	notify_watchdog();
}

int loomd_readiness_open(struct loomd *d, struct loom_err *err)
{
	uint64_t wd = notify_watchdog_ms();
	int ret;

	d->watchdog_fd = -1;
	if ((ret = loomd_hook_add(d, LOOMD_HOOK_START, check_ready)) ||
	    (ret = loomd_hook_add(d, LOOMD_HOOK_REPORTED, check_ready)))
		return loom_err_set(err, LOOM_E_INTERNAL, "", "hooks: %s", strerror(-ret));
	if (!wd)
		return 0;
	/* Half the interval: a ping late by a busy loop still arrives in time. */
	d->watchdog_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (d->watchdog_fd >= 0) {
		struct itimerspec its = { 0 };

		its.it_value.tv_sec = (time_t)(wd / 2000);
		its.it_value.tv_nsec = (long)(wd / 2 % 1000) * 1000000;
		if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
			its.it_value.tv_nsec = 1000000;
		its.it_interval = its.it_value;
		if (timerfd_settime(d->watchdog_fd, 0, &its, NULL) < 0) {
			close(d->watchdog_fd);
			d->watchdog_fd = -1;
		}
	}
	if (d->watchdog_fd < 0)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "cannot start the watchdog timer: %s", strerror(errno));
	ret = loomd_fd_add(d, d->watchdog_fd, on_watchdog);
	if (ret)
		return loom_err_set(err, LOOM_E_INTERNAL, "", "no room for the watchdog timer");
	notify_watchdog();
	return 0;
}

void loomd_readiness_close(struct loomd *d)
{
	notify_stopping();
	if (d->watchdog_fd >= 0)
		close(d->watchdog_fd);
	d->watchdog_fd = -1;
}

void loomd_readiness_reloading(struct loomd *d)
{
	notify_reloading();
	notify_status("reloading the topology from %s", d->cfg.topology);
}

void loomd_readiness_reloaded(struct loomd *d, bool ok)
{
	/* A new reconciler's targets run first again; READY=1 ends the
	 * reload whatever they find, as after start. */
	notify_ready();
	notify_status("%s; serving %s", ok ? "topology reloaded" : "reload refused, the old topology kept",
		      d->cfg.socket);
}
