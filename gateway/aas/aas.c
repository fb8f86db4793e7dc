/* aas.c - AAS V3 environments from Thing Descriptions (aas.h).
 *
 * The JSON follows the AAS Part 2 serialisation ("modelType" on every
 * element); tests/tools/validate-aas.mjs checks it with aas-core3.0's
 * de-serialiser and verifier. idShorts must match [a-zA-Z][a-zA-Z0-9_]*,
 * so TD names ("gear_a.speed", "gears-1") are folded to that and kept as
 * they are in the AID "key" properties. */
#include "gateway/aas/aas.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define AID "https://admin-shell.io/idta/AssetInterfacesDescription/1/0/"
#define TD "https://www.w3.org/2019/wot/td#"
#define HCTL "https://www.w3.org/2019/wot/hypermedia#"
#define NAMEPLATE "https://admin-shell.io/zvei/nameplate/2/0/Nameplate"

/* An external reference to a global concept (semanticId). */
static json_t *gref(const char *iri)
{
    return json_pack("{s:s, s:[{s:s, s:s}]}", "type", "ExternalReference",
                     "keys", "type", "GlobalReference", "value", iri);
}

/* s folded into an idShort: [A-Za-z0-9_] kept, the rest '_', and a
 * letter in front when it does not start with one. */
static void id_short(const char *s, char *out, size_t len)
{
    size_t o = 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) && len > 2)
        out[o++] = 'x';
    for (; *s && o + 1 < len; s++)
        out[o++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                    (*s >= '0' && *s <= '9'))
                       ? *s
                       : '_';
    out[o] = '\0';
}

static json_t *prop(const char *name, const char *sem, const char *vtype,
                    const char *value)
{
    json_t *p = json_pack("{s:s, s:s, s:s}", "modelType", "Property", "idShort",
                          name, "valueType", vtype);
    if (sem)
        json_object_set_new(p, "semanticId", gref(sem));
    if (value)
        json_object_set_new(p, "value", json_string(value));
    return p;
}

static json_t *mlp(const char *name, const char *sem, const char *text)
{
    return json_pack("{s:s, s:s, s:o, s:[{s:s, s:s}]}", "modelType",
                     "MultiLanguageProperty", "idShort", name, "semanticId",
                     gref(sem), "value", "language", "en", "text", text);
}

static json_t *smc(const char *name, const char *sem, json_t *elements)
{
    json_t *c = json_pack("{s:s, s:s}", "modelType",
                          "SubmodelElementCollection", "idShort", name);
    if (sem)
        json_object_set_new(c, "semanticId", gref(sem));
    if (json_array_size(elements))
        json_object_set_new(c, "value", elements);
    else
        json_decref(elements);
    return c;
}

/* An href as a Property: xs:anyURI, or xs:string for a URI template
 * (braces are not allowed in a URI). */
static json_t *href_prop(const char *href)
{
    /* A stream ticket in an SSE href is a credential (viewer, two hours):
     * exported files do not keep it. */
    char buf[1024];
    const char *q = strstr(href, "?access_token=");
    if (q) {
        snprintf(buf, sizeof buf, "%.*s", (int)(q - href), href);
        href = buf;
    }
    return prop("href", HCTL "hasTarget",
                strchr(href, '{') ? "xs:string" : "xs:anyURI", href);
}

/* The forms of one affordance that use scheme ("http" or "mqtt"), as the
 * AID "forms" collection; NULL when there are none. */
static json_t *forms_of(const json_t *aff, const char *scheme)
{
    json_t *out = NULL;
    size_t i;
    const json_t *f;
    json_array_foreach(json_object_get(aff, "forms"), i, f)
    {
        const char *href = json_string_value(json_object_get(f, "href"));
        if (!href || strncmp(href, scheme, strlen(scheme)) ||
            (href[strlen(scheme)] != ':' &&
             strncmp(href + strlen(scheme), "s:", 2)))
            continue;
        if (out) /* AID has one form per affordance: the first one */
            break;
        json_t *el = json_array();
        json_array_append_new(el, href_prop(href));
        const char *ct = json_string_value(json_object_get(f, "contentType"));
        if (ct)
            json_array_append_new(el, prop("contentType", HCTL "forContentType",
                                           "xs:string", ct));
        const char *sub = json_string_value(json_object_get(f, "subprotocol"));
        if (sub)
            json_array_append_new(el, prop("subprotocol", HCTL "forSubProtocol",
                                           "xs:string", sub));
        const char *m = json_string_value(json_object_get(f, "htv:methodName"));
        if (m)
            json_array_append_new(
                el, prop("htv_methodName",
                         "https://www.w3.org/2011/http#methodName", "xs:string",
                         m));
        const char *cp =
            json_string_value(json_object_get(f, "mqv:controlPacket"));
        if (cp)
            json_array_append_new(
                el, prop("mqv_controlPacket",
                         "https://www.w3.org/2019/wot/mqtt#hasControlPacket",
                         "xs:string", cp));
        out = smc("forms", TD "hasForm", el);
    }
    return out;
}

/* One affordance (property, action or event) of the AID. */
static json_t *affordance(const char *key, const json_t *aff, const char *def,
                          json_t *forms)
{
    char ids[72];
    id_short(key, ids, sizeof ids);
    json_t *el = json_array();
    json_array_append_new(el, prop("key", AID "key", "xs:string", key));
    const char *type = json_string_value(json_object_get(aff, "type"));
    if (type)
        json_array_append_new(
            el, prop("type", "https://www.w3.org/1999/02/22-rdf-syntax-ns#type",
                     "xs:string", type));
    const char *title = json_string_value(json_object_get(aff, "title"));
    if (title)
        json_array_append_new(el,
                              prop("title", TD "title", "xs:string", title));
    if (json_is_boolean(json_object_get(aff, "observable")))
        json_array_append_new(
            el,
            prop("observable", TD "isObservable", "xs:boolean",
                 json_is_true(json_object_get(aff, "observable")) ? "true"
                                                                  : "false"));
    const char *unit = json_string_value(json_object_get(aff, "unit"));
    if (unit)
        json_array_append_new(
            el, prop("unit", "https://schema.org/unitCode", "xs:string", unit));
    json_array_append_new(el, forms);
    return smc(ids, def, el);
}

/* The affordances of td (kind: "properties", "actions" or "events") that
 * have a form of scheme, as an AID collection; NULL when none does. */
static json_t *affordances(const json_t *td, const char *kind,
                           const char *scheme)
{
    static const char *const sems[][3] = {
        {"properties", TD "PropertyAffordance", AID "PropertyDefinition"},
        {"actions", TD "ActionAffordance", AID "ActionDefinition"},
        {"events", TD "EventAffordance", AID "EventDefinition"},
    };
    size_t k = 0;
    while (strcmp(sems[k][0], kind))
        k++;
    json_t *el = json_array();
    const char *key;
    const json_t *aff;
    json_object_foreach((json_t *)json_object_get(td, kind), key, aff)
    {
        json_t *forms = forms_of(aff, scheme);
        if (forms)
            json_array_append_new(el, affordance(key, aff, sems[k][2], forms));
    }
    if (!json_array_size(el)) {
        json_decref(el);
        return NULL;
    }
    return smc(kind, sems[k][1], el);
}

/* The base URI of the first form of scheme in td, cut after the
 * authority ("http://host:port"); out is "" when there is none. */
static void base_of(const json_t *td, const char *scheme, char *out, size_t len)
{
    out[0] = '\0';
    static const char *const kinds[] = {"properties", "actions", "events"};
    for (size_t k = 0; k < 3 && !out[0]; k++) {
        const char *key;
        const json_t *aff;
        json_object_foreach((json_t *)json_object_get(td, kinds[k]), key, aff)
        {
            size_t i;
            const json_t *f;
            json_array_foreach(json_object_get(aff, "forms"), i, f)
            {
                const char *h = json_string_value(json_object_get(f, "href"));
                const char *auth = h ? strstr(h, "://") : NULL;
                if (!auth || strncmp(h, scheme, strlen(scheme)))
                    continue;
                size_t n = (size_t)(auth + 3 - h) + strcspn(auth + 3, "/?#");
                snprintf(out, len, "%.*s", (int)n, h);
                return;
            }
        }
    }
}

/* The AID interface of td for one protocol; NULL if td has no form of
 * it. */
static json_t *interface(const json_t *td, const char *scheme, const char *name,
                         const char *protocol_iri)
{
    char base[256];
    base_of(td, scheme, base, sizeof base);
    if (!base[0])
        return NULL;
    json_t *endpoint = json_array();
    json_array_append_new(endpoint,
                          prop("base", TD "baseURI", "xs:anyURI", base));
    json_array_append_new(endpoint, prop("contentType", HCTL "forContentType",
                                         "xs:string", "application/json"));
    /* The TD's security schemes (scheme, in, name), where the TD has
     * them. */
    json_t *defs = json_array();
    const char *sn;
    const json_t *sd;
    json_object_foreach((json_t *)json_object_get(td, "securityDefinitions"),
                        sn, sd)
    {
        char ids[72];
        id_short(sn, ids, sizeof ids);
        json_t *el = json_array();
        static const char *const keys[] = {"scheme", "in", "name"};
        for (size_t i = 0; i < 3; i++) {
            const char *v = json_string_value(json_object_get(sd, keys[i]));
            if (v)
                json_array_append_new(
                    el, prop(keys[i],
                             i == 0 ? "https://www.w3.org/2019/wot/security#"
                                      "SecurityScheme"
                                    : NULL,
                             "xs:string", v));
        }
        json_array_append_new(defs, smc(ids, NULL, el));
    }
    json_array_append_new(
        endpoint, smc("securityDefinitions", TD "definesSecurityScheme", defs));
    json_t *inter = json_array();
    static const char *const kinds[] = {"properties", "actions", "events"};
    for (size_t k = 0; k < 3; k++) {
        json_t *a = affordances(td, kinds[k], scheme);
        if (a)
            json_array_append_new(inter, a);
    }
    const char *title = json_string_value(json_object_get(td, "title"));
    json_t *el = json_array();
    json_array_append_new(
        el, prop("title", TD "title", "xs:string", title ? title : "Thing"));
    json_array_append_new(
        el, smc("EndpointMetadata", AID "EndpointMetadata", endpoint));
    json_array_append_new(
        el, smc("InteractionMetadata", AID "InteractionMetadata", inter));
    json_t *c = smc(name, AID "Interface", el);
    json_object_set_new(c, "supplementalSemanticIds",
                        json_pack("[o, o]",
                                  gref("https://www.w3.org/2019/wot/td"),
                                  gref(protocol_iri)));
    return c;
}

/* The shell of one machine and its two submodels, appended to shells and
 * submodels. kind: "twin" or "device"; id: the twin or device id. */
static void machine(const json_t *td, const char *kind, const char *id,
                    const char *gw, json_t *shells, json_t *submodels)
{
    char base_id[256], np_id[300], aid_id[300], ids[72];
    snprintf(base_id, sizeof base_id, GW_AAS_ID_PREFIX "%s:%s:%s", gw, kind,
             id);
    snprintf(np_id, sizeof np_id, "%s:nameplate", base_id);
    snprintf(aid_id, sizeof aid_id, "%s:interfaces", base_id);
    id_short(id, ids, sizeof ids);
    const char *tdid = json_string_value(json_object_get(td, "id"));
    const char *title = json_string_value(json_object_get(td, "title"));
    const char *descr = json_string_value(json_object_get(td, "description"));

    json_t *shell = json_pack(
        "{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:[{s:s, s:[{s:s, s:s}]}, "
        "{s:s, s:[{s:s, s:s}]}]}",
        "modelType", "AssetAdministrationShell", "id", base_id, "idShort", ids,
        "assetInformation", "assetKind", "Instance", "globalAssetId", tdid,
        "assetType", !strcmp(kind, "twin") ? "DigitalTwin" : "Device",
        "submodels", "type", "ModelReference", "keys", "type", "Submodel",
        "value", np_id, "type", "ModelReference", "keys", "type", "Submodel",
        "value", aid_id);
    if (title)
        json_object_set_new(
            shell, "displayName",
            json_pack("[{s:s, s:s}]", "language", "en", "text", title));
    if (descr && *descr)
        json_object_set_new(
            shell, "description",
            json_pack("[{s:s, s:s}]", "language", "en", "text", descr));
    json_array_append_new(shells, shell);

    /* Nameplate: only what the gateway knows (IDTA 02006 element
     * semantics, ECLASS IRDIs). */
    json_t *np = json_array();
    json_array_append_new(
        np, prop("URIOfTheProduct", "0173-1#02-AAY811#001", "xs:anyURI", tdid));
    json_array_append_new(np, mlp("ManufacturerProductDesignation",
                                  "0173-1#02-AAW338#001", title ? title : id));
    json_array_append_new(
        np, prop("SerialNumber", "0173-1#02-AAM556#002", "xs:string", id));
    json_array_append_new(
        submodels,
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:o}", "modelType", "Submodel",
                  "id", np_id, "idShort", "Nameplate", "kind", "Instance",
                  "semanticId", gref(NAMEPLATE), "submodelElements", np));

    json_t *aid = json_array();
    json_t *http =
        interface(td, "http", "InterfaceHTTP", "http://www.w3.org/2011/http");
    if (http)
        json_array_append_new(aid, http);
    json_t *mqtt =
        interface(td, "mqtt", "InterfaceMQTT", "http://www.w3.org/2011/mqtt");
    if (mqtt)
        json_array_append_new(aid, mqtt);
    json_t *sm =
        json_pack("{s:s, s:s, s:s, s:s, s:o}", "modelType", "Submodel", "id",
                  aid_id, "idShort", "AssetInterfacesDescription", "kind",
                  "Instance", "semanticId", gref(AID "Submodel"));
    if (json_array_size(aid))
        json_object_set_new(sm, "submodelElements", aid);
    else
        json_decref(aid);
    json_array_append_new(submodels, sm);
}

/* "urn:holotwin:{kind}:{id}" -> id, or NULL. */
static const char *urn_id(const json_t *td, const char *kind)
{
    const char *s = json_string_value(json_object_get(td, "id"));
    char pre[32];
    snprintf(pre, sizeof pre, "urn:holotwin:%s:", kind);
    if (!s || strncmp(s, pre, strlen(pre)) || !s[strlen(pre)])
        return NULL;
    return s + strlen(pre);
}

json_t *gw__aas_environment(const json_t *twin_td,
                            const json_t *const *device_tds, size_t n,
                            const char *gateway_id)
{
    const char *tid = urn_id(twin_td, "twin");
    if (!tid || !gateway_id)
        return NULL;
    json_t *shells = json_array(), *submodels = json_array();
    machine(twin_td, "twin", tid, gateway_id, shells, submodels);
    for (size_t i = 0; i < n; i++) {
        const char *did =
            device_tds[i] ? urn_id(device_tds[i], "device") : NULL;
        if (did)
            machine(device_tds[i], "device", did, gateway_id, shells,
                    submodels);
    }
    return json_pack("{s:o, s:o}", "assetAdministrationShells", shells,
                     "submodels", submodels);
}
