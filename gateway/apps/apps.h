/* apps/apps.h - MQTT accounts for apps (HMD apps, dashboards, other
 * gateways) with the roles of REST tokens: a viewer reads
 * PREFIX/twins/...; an operator may also send commands on its request
 * topic PREFIX/apps/NAME/request, which this module checks, hands to the
 * same jobs as the REST command path (checked, audited as "mqtt:NAME",
 * answered) and answers on PREFIX/apps/NAME/reply. An HMD app can work
 * over MQTT alone.
 * Owns: the account jobs (GW_JOB_ACCOUNT_ADD/_DELETE) and the request
 * topic's handler; the accounts themselves are broker users (broker/
 * provision.h).
 * Uses: core, broker (accounts), jobs, ingest (the request topic),
 * security (TLS facts in an account's answer), auth (the operator role
 * its requests run with).
 * Threads: loop thread.
 */
#ifndef HT_GW_APPS_H
#define HT_GW_APPS_H

#include "gateway/core/gw.h"

#include <jansson.h>
#include <stddef.h>

/* Register the account job handlers and the request topic with ingest.
 * After gw__ingest_init. Always HT_OK (nothing to allocate). */
int gw__apps_init(struct ht_gw *g);

/* A request on PREFIX/apps/NAME/request (payload, len borrowed):
 * {"device": ID, "property": NAME, "value": V} writes a device property,
 * {"twin": ID, "property": "COMPONENT.PROPERTY", "value": V} a twin's,
 * {"twin": ID, "control": "take" | "release" | "request"} takes, releases
 * or asks for its control (the app's presence on PREFIX/apps/NAME/status
 * keeps the lease: control/).
 * Exposed for the unit tests: parse it into *kind (0 device, 1 twin, 2
 * control), the target id (HT_ID_MAX + 1 bytes), the property or the
 * control verb (72 bytes) and the value (new reference; NULL for control).
 * HT_OK, or HT_EINVAL with a reason in err. */
int gw__apps_parse_request(const void *payload, size_t len, int *kind, char *id,
                           char *prop, json_t **value, char *err,
                           size_t errlen);

#endif
