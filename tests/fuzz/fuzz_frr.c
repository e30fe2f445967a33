/*
 * tests/fuzz/fuzz_frr.c: libFuzzer target for what loom reads from FRR:
 * `show running-config` (frr_config_parse, with and without an expected
 * ASN), vtysh's output scanned for errors, and, when the input is JSON,
 * `show bgp l2vpn evpn vni json` / `show evpn vni json`.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "overlay/frr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct loom_err err = { 0 };
	struct frr_state st, copy;
	struct frr_bgp_vnis vnis;
	json_error_t jerr;
	json_t *root;
	char msg[256];
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&st, 0, sizeof(st));
	if (frr_config_parse(text, 0, &st, &err) == 0) {
		memset(&copy, 0, sizeof(copy));
		if (frr_state_copy(&st, &copy) == 0)
			frr_state_release(&copy);
	}
	frr_state_release(&st);
	memset(&st, 0, sizeof(st));
	loom_err_clear(&err);
	frr_config_parse(text, 65000, &st, &err);
	frr_state_release(&st);
	frr_output_errors(text, msg, sizeof(msg));
	root = json_loadb((const char *)data, size, 0, &jerr);
	if (root) {
		memset(&vnis, 0, sizeof(vnis));
		loom_err_clear(&err);
		if (frr_bgp_vnis_parse(root, root, &vnis, &err) == 0)
			frr_bgp_vnis_release(&vnis);
		memset(&vnis, 0, sizeof(vnis));
		loom_err_clear(&err);
		if (frr_bgp_vnis_parse(root, NULL, &vnis, &err) == 0)
			frr_bgp_vnis_release(&vnis);
		json_decref(root);
	}
	free(text);
	return 0;
}
