/* fuzz_conf - configuration files (common/ht_conf.c): the input is written
 * to a file and loaded as gatewayd's config (its table) and as the device
 * agent's (table plus its capability sections). A load either succeeds
 * with every value in range or fails with a message. */
#include "fuzz.h"

#include "device-agent/agent.h"
#include "gateway/core/conf.h"

#include "ht_conf.h"
#include "ht_err.h"
#include "ht_log.h"

#include <unistd.h>

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ht_log_set_level(LOG_CRIT);
    snprintf(path, sizeof path, "/tmp/ht-fuzz-conf-%d.json", (int)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "w");
    FUZZ_ASSERT(f != NULL);
    FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
    FUZZ_ASSERT(fclose(f) == 0);
    char err[512] = "";

    struct ht_gw_conf gc;
    ht_gw_conf_init(&gc);
    int rc = ht_conf_load(ht_gw_conf_table(), &gc, path, NULL, NULL, err,
                          sizeof err);
    if (rc != HT_OK)
        FUZZ_ASSERT(err[0] != '\0');
    else
        FUZZ_ASSERT(gc.http_port >= 0 && gc.http_port <= 65535);
    json_decref(ht_conf_dump(ht_gw_conf_table(), &gc));
    ht_gw_conf_clear(&gc);

    struct ht_agent_conf ac;
    ht_agent_conf_init(&ac);
    err[0] = '\0';
    rc = ht_agent_conf_load(&ac, path, err, sizeof err);
    if (rc != HT_OK) {
        FUZZ_ASSERT(err[0] != '\0');
    } else if (ht_agent_conf_check(&ac, err, sizeof err) == HT_OK) {
        struct ht_sem_thing *t = ht_agent_conf_thing(&ac);
        ht_sem_thing_free(t);
    }
    ht_agent_conf_clear(&ac);
    unlink(path);
    return 0;
}
