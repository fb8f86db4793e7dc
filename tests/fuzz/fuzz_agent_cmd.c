/* fuzz_agent_cmd - the device agent's command path: the first line is the
 * property name (the cmd/{name} topic level), the next line the
 * correlation data, the rest the payload. The built-in demo board (sim
 * GPIO) answers every command with an ack that must be a JSON object
 * with a boolean "ok", and an error code when it is false. */
#include "fuzz.h"

#include "device-agent/agent.h"

#include "ht_err.h"
#include "ht_log.h"
#include "ht_loop.h"

static struct ht_loop *loop;
static struct ht_agent *agent;
static struct ht_agent_conf conf;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256] = "";
    ht_log_set_level(LOG_CRIT);
    ht_agent_conf_init(&conf);
    /* What `device-agent --sim --id fuzz-1` sets: the sim backend. */
    free(conf.id);
    conf.id = strdup("fuzz-1");
    free(conf.backend);
    conf.backend = strdup("sim");
    if (ht_loop_new(&loop) || ht_agent_conf_demo(&conf, err, sizeof err) ||
        ht_agent_new(loop, &conf, &agent, err, sizeof err)) {
        fprintf(stderr, "fuzz_agent_cmd: demo agent: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *rest, *pl;
    size_t restlen, pllen;
    char *name = fuzz_split(data, size, &rest, &restlen);
    char *corr = fuzz_split(rest, restlen, &pl, &pllen);
    json_t *ack = ht_agent_command(agent, name, pl, pllen,
                                   corr[0] ? corr : NULL, strlen(corr));
    FUZZ_ASSERT(json_is_object(ack));
    json_t *ok = json_object_get(ack, "ok");
    FUZZ_ASSERT(json_is_boolean(ok));
    if (json_is_false(ok))
        FUZZ_ASSERT(json_is_string(
            json_object_get(json_object_get(ack, "error"), "code")));
    json_decref(ack);
    free(corr);
    free(name);
    return 0;
}
