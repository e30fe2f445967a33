/*
 * store/gpu.c: MIG instances given to tenants (schema 4), one row per
 * instance keyed by (node, gpu, start).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <sqlite3.h>

#include "store/store-private.h"

const struct store_sql store_sql_gpu[] = {
	{ ST_GPU_PUT,
		"INSERT INTO gpu_instances (node, gpu, start, tenant, profile, segments, created_ns)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
	{ ST_GPU_DEL, "DELETE FROM gpu_instances WHERE node = ?1 AND gpu = ?2 AND start = ?3" },
	{ ST_GPU_LIST,
		"SELECT node, gpu, start, tenant, profile, segments, created_ns FROM gpu_instances"
		" ORDER BY node, gpu, start" },
	{ ST__COUNT, NULL },
};

int store_gpu_put(struct store *s, const struct gpu_inst_rec *g)
{
	sqlite3_stmt *st = s->stmt[ST_GPU_PUT];

	bind_text(st, 1, g->node);
	sqlite3_bind_int64(st, 2, g->gpu);
	sqlite3_bind_int64(st, 3, g->start);
	bind_text(st, 4, g->tenant);
	bind_text(st, 5, g->profile);
	bind_text(st, 6, g->segments);
	sqlite3_bind_int64(st, 7, g->created_ns);
	return store_stmt_run(s, st, "gpu instance put", false);
}

int store_gpu_delete(struct store *s, const char *node, unsigned int gpu, unsigned int start)
{
	sqlite3_stmt *st = s->stmt[ST_GPU_DEL];

	bind_text(st, 1, node);
	sqlite3_bind_int64(st, 2, gpu);
	sqlite3_bind_int64(st, 3, start);
	return store_run_delete(s, st, "gpu instance delete");
}

static int row_gpu(sqlite3_stmt *st, struct gpu_inst_rec *g)
{
	sqlite3_int64 gpu = sqlite3_column_int64(st, 1), start = sqlite3_column_int64(st, 2);

	memset(g, 0, sizeof(*g));
	if (store_col_copy(st, 0, g->node, sizeof(g->node))
	    || store_col_copy(st, 3, g->tenant, sizeof(g->tenant))
	    || store_col_copy(st, 4, g->profile, sizeof(g->profile))
	    || store_col_copy(st, 5, g->segments, sizeof(g->segments))
	    || gpu < 0 || gpu > UINT32_MAX || start < 0 || start > UINT32_MAX)
		return -EBADMSG;
	g->gpu = (unsigned int)gpu;
	g->start = (unsigned int)start;
	g->created_ns = sqlite3_column_int64(st, 6);
	return 0;
}

static int row_gpu_any(sqlite3_stmt *st, void *out) { return row_gpu(st, out); }

int store_gpu_list(struct store *s, struct gpu_inst_rec **out, size_t *n)
{
	return store_rows_collect(s, s->stmt[ST_GPU_LIST], sizeof(**out), row_gpu_any,
				  "gpu instance list", (void **)out, n);
}
