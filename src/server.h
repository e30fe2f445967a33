/*
 * src/server.h: loomd's event loop and its API socket (src/server.c).
 */
#ifndef LOOM_SRC_SERVER_H
#define LOOM_SRC_SERVER_H

#include "lib/err.h"
#include "src/daemon.h"

/* The epoll loop, its signals and timer, the fds of loomd_fd_add, the socket. */
int server_open(struct loomd *d, struct loom_err *err);
/* Watches the reconciler's eventfd and drift sockets. */
int server_add_reconciler(struct loomd *d, struct loom_err *err);
/* Runs until SIGINT or SIGTERM; 0, or -errno when epoll fails. */
int server_run(struct loomd *d);
void server_close(struct loomd *d);

#endif
