/*
 * fabric/partitions.h: OpenSM's partitions file, the part loom owns.
 *
 * loom writes its partitions between two marker lines and keeps every
 * other byte of the file as it was (the Default partition, the operator's
 * own partitions and comments).  The END marker carries a checksum of the
 * section so that a hand edit is noticed even after loomd restarts.
 * Rendering and parsing are pure; partitions_file_write is the only
 * function here that touches the disk.  The grammar and its limits are in
 * docs/fabric.md.
 */
#ifndef LOOM_FABRIC_PARTITIONS_H
#define LOOM_FABRIC_PARTITIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "tenancy/compile.h"

#define PARTITIONS_BEGIN "# BEGIN loom-managed partitions (do not edit)"
#define PARTITIONS_END "# END loom-managed partitions"
/*
 * OpenSM reads the file with fgets() into a 4,096-byte buffer (4,094
 * characters and the newline fit); a longer line is cut mid-token.  loom
 * keeps every line it writes at or under this many bytes, newline included.
 */
#define PARTITIONS_LINE_MAX 4000
#define PARTITIONS_NAME_MAX 31		/* OpenSM keeps 31 characters of a name */

/* A partition as found in a file (loom's section or the operator's lines). */
struct partitions_found {
	uint16_t pkey;
	char name[LOOM_NAME_MAX];
	bool all;			/* the member list names ALL / ALL_CAS / ... */
	struct pkey_member *members;	/* only GUID members, in file order */
	size_t n_members;
};

struct partitions_file {
	char *text;			/* the whole file, NUL-terminated */
	size_t len;
	size_t sec_begin, sec_end;	/* loom's section is text[sec_begin..sec_end) */
	bool has_section;
	bool section_intact;		/* the END marker's checksum matches */
	struct partitions_found *loom;	/* parsed from loom's section */
	size_t n_loom;
	struct partitions_found *foreign;	/* parsed from everything else */
	size_t n_foreign;
};

/*
 * Check a desired state against what OpenSM accepts: P_Keys 0x0001..0x7ffe
 * and unique, mtu/rate/sl that OpenSM has codes for, members with a GUID,
 * FULL or LIMITED, each at most once per partition.  Fills @err with the
 * field (e.g. "partitions[3].members[0].guid") and returns -EINVAL.
 */
int partitions_validate(const struct sm_desired *d, struct loom_err *err);

/* The name OpenSM will see: [A-Za-z0-9_.-], at most 31 characters. */
void partitions_name(const struct sm_partition *p, char out[PARTITIONS_NAME_MAX + 1]);

/* OpenSM's codes: 2048 -> 4 (IB MTU enum); 100 Gb/s -> 16 (IB rate enum); 0 = none. */
int partitions_mtu_code(unsigned int mtu_bytes);
int partitions_rate_code(unsigned int rate_gbps);

/*
 * Render loom's section, markers included, every line at most @line_max
 * bytes (0 = PARTITIONS_LINE_MAX).  *out is malloc'd and NUL-terminated.
 * The desired state must have passed partitions_validate.
 * Returns 0, -ENOMEM, or -E2BIG when a single token cannot fit a line.
 */
int partitions_render(const struct sm_desired *d, size_t line_max, char **out, size_t *len);

/*
 * Parse a file's text: find loom's section, check its checksum, and list
 * the partitions inside and outside it.  A missing section is not an error.
 * A file with only one marker, or markers out of order, is -EBADMSG with
 * @err saying so (LOOM_E_CONFIG).
 */
int partitions_parse(const char *text, size_t len, struct partitions_file **out,
		     struct loom_err *err);
/* Read @path and parse it; a missing file is an empty one. */
int partitions_file_read(const char *path, struct partitions_file **out,
			 struct loom_err *err);
void partitions_file_free(struct partitions_file **f);

/*
 * Splice @section (from partitions_render) in place of the file's section,
 * or append it when there is none.  *out is malloc'd.
 */
int partitions_splice(const struct partitions_file *f, const char *section,
		      size_t section_len, char **out, size_t *out_len);

/*
 * Replace @path atomically: a temporary file in the same folder with the
 * old file's mode, fsync, rename over @path, fsync the folder.  Readers see
 * the old or the new file, never a mix.
 */
int partitions_file_write(const char *path, const char *text, size_t len,
			  struct loom_err *err);

/*
 * The one wording of a port whose P_Key table cannot take loom's
 * partitions, for the API's refusal and the subnet-manager target's: the
 * count is every entry the port would hold (@loom of loom's partitions and
 * @others such as Default and the operator's) against @cap
 * (NodeInfo.PartitionCap).  @node / @port may be NULL.  Sets @err
 * (pool_exhausted on @field) and returns -EINVAL, as loom_err_set does.
 */
int partitions_capacity_err(struct loom_err *err, const char *field, uint64_t guid,
			    const char *node, const char *port, unsigned int loom,
			    unsigned int others, unsigned int cap);

/*
 * The one count of whether a port's P_Key table takes loom's partitions:
 * @loom entries of loom's (every partition loom has accepted for the port,
 * verified or not) plus @others (Default, the operator's) against @cap.
 * A @cap of 0 (not read yet) fits.  Pure; the API's refusal, the
 * subnet-manager target's check and its containment all ask it.  Returns
 * 0, or partitions_capacity_err's refusal.
 */
int partitions_port_fits(struct loom_err *err, const char *field, uint64_t guid, const char *node,
			 const char *port, unsigned int loom, unsigned int others, unsigned int cap);

/* The checksum the END marker carries (FNV-1a, 64 bits). */
uint64_t partitions_checksum(const char *body, size_t len);

#endif
