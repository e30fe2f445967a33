/*
 * lib/notify.h: telling systemd how loomd is doing (sd_notify(3)): ready,
 * reloading, stopping, the watchdog and one-line STATUS= texts.  Outside
 * systemd (no NOTIFY_SOCKET) every call does nothing.
 */
#ifndef LOOM_LIB_NOTIFY_H
#define LOOM_LIB_NOTIFY_H

#include <stdint.h>

/* The watchdog interval systemd asked for (WatchdogSec=), in ms; 0 if none.
 * loomd pings at half of it. */
uint64_t notify_watchdog_ms(void);

void notify_ready(void);
void notify_reloading(void);
void notify_stopping(void);
void notify_watchdog(void);
/* STATUS=...: what loomd is doing or waiting for, shown by systemctl status.
 * Repeats of the last text are not sent again. */
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
