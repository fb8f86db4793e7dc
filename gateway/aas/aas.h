/* aas/aas.h - Asset Administration Shell (AAS) V3 environments for
 * twins: one shell per machine (the twin, and each board it binds), a
 * Nameplate-style identity submodel with what the gateway knows of it and
 * an Asset Interfaces Description (IDTA 02017) submodel derived from its
 * W3C WoT Thing Description, so that AAS tools (Eclipse BaSyx, AASX
 * Package Explorer) see the machine and how to reach it
 * (docs/api.md "Asset Administration Shell").
 * Owns: nothing (pure functions over jansson values, no I/O).
 * Uses: nothing.
 * Threads: any.
 */
#ifndef HT_GW_AAS_H
#define HT_GW_AAS_H

#include <jansson.h>
#include <stddef.h>

/* Prefix of the identifiers of shells and submodels:
 * "urn:holotwin:aas:{gateway}:{kind}:{id}[:{submodel}]". */
#define GW_AAS_ID_PREFIX "urn:holotwin:aas:"

/* The AAS V3 environment (JSON serialisation, new reference) of a twin:
 * twin_td is the twin's TD as the directory serves it, device_tds the TDs
 * of the boards it binds (n of them, each may be NULL: skipped); all
 * borrowed. gateway_id (borrowed) scopes the identifiers. NULL when
 * twin_td has no usable "id". */
json_t *gw__aas_environment(const json_t *twin_td,
                            const json_t *const *device_tds, size_t n,
                            const char *gateway_id);

#endif
