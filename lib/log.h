/*
 * lib/log.h: logging to stderr (journald picks it up under systemd).
 *
 * One global level, plus debug flags per subsystem so that debug output can
 * be turned on for, say, netlink alone.
 */
#ifndef LOOM_LIB_LOG_H
#define LOOM_LIB_LOG_H

enum log_level { LOG_LVL_ERR, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

enum log_subsys {
	LOG_SUB_API = 1 << 0,
	LOG_SUB_STORE = 1 << 1,
	LOG_SUB_RECONCILE = 1 << 2,
	LOG_SUB_NETLINK = 1 << 3,
	LOG_SUB_FRR = 1 << 4,
	LOG_SUB_OPENSM = 1 << 5,
	LOG_SUB_MAD = 1 << 6,
	LOG_SUB_LIFECYCLE = 1 << 7,
	LOG_SUB_GPU = 1 << 8,
};

extern enum log_level log_level;
extern unsigned int log_debug_mask;
/* The program the lines are from ("loomd" unless set). */
extern const char *log_ident;

/* "err", "warn", "info", "debug" -> level; returns -1 when unknown. */
int log_level_parse(const char *name);
/* "api,netlink" or "all" -> mask; returns -1 when a name is unknown. */
int log_debug_parse(const char *list, unsigned int *mask);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)                                                         \
	do {                                                                  \
		if (log_level >= LOG_LVL_INFO)                                \
			log_msg(LOG_LVL_INFO, __VA_ARGS__);                   \
	} while (0)
#define log_debug(sub, ...)                                                   \
	do {                                                                  \
		if (log_level >= LOG_LVL_DEBUG && (log_debug_mask & (sub)))   \
			log_msg(LOG_LVL_DEBUG, __VA_ARGS__);                  \
	} while (0)

#endif
