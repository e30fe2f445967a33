/*
 * isolation/sign.c: the report signed for auditors.  A detached signature
 * over the exact bytes of the JSON document, with a key the operator
 * keeps in a PEM file, so that anyone holding the public key checks it
 * with openssl alone:
 *   openssl dgst -sha256 -verify pub.pem -signature report.sig report.json
 * (Ed25519 keys sign the bytes themselves: openssl pkeyutl -verify -rawin).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "isolation/isolation.h"

int isolation_sign(const char *key_path, const void *data, size_t len,
		   unsigned char **sig, size_t *sig_len, struct loom_err *err)
{
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *ctx = NULL;
	unsigned char *out = NULL;
	const EVP_MD *md;
	size_t n = 0;
	FILE *f;
	int rc = -EINVAL;

	f = fopen(key_path, "re");
	if (!f) {
		rc = -errno;
		loom_err_set(err, LOOM_E_CONFIG, "isolation.key", "cannot open %s: %s", key_path,
			     strerror(errno));
		return rc;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!key) {
		loom_err_set(err, LOOM_E_CONFIG, "isolation.key",
			     "%s holds no PEM private key (RSA, EC or Ed25519)", key_path);
		goto out;
	}
	/* Ed25519 and Ed448 hash inside the algorithm: no digest is given. */
	md = EVP_PKEY_id(key) == EVP_PKEY_ED25519 || EVP_PKEY_id(key) == EVP_PKEY_ED448
		     ? NULL : EVP_sha256();
	ctx = EVP_MD_CTX_new();
	if (!ctx || EVP_DigestSignInit(ctx, NULL, md, NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &n, data, len) != 1) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "signing failed: %s",
			     ERR_reason_error_string(ERR_get_error()));
		goto out;
	}
	out = malloc(n);
	if (!out) {
		rc = -ENOMEM;
		goto out;
	}
	if (EVP_DigestSign(ctx, out, &n, data, len) != 1) {
		loom_err_set(err, LOOM_E_INTERNAL, "", "signing failed: %s",
			     ERR_reason_error_string(ERR_get_error()));
		free(out);
		out = NULL;
		goto out;
	}
	*sig = out;
	*sig_len = n;
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(key);
	return rc;
}
