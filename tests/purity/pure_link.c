/* pure_link.c - the program tests/module.mk links with nothing but the pure
 * libraries (whole archives), jansson and libm: that it links at all is the
 * proof. Running it does one pure thing from each library. */
#include "ht_topic.h"
#include "semantics/semantics.h"
#include "twins/twin.h"
#include "ui-descriptors/uidesc.h"

#include <stdio.h>

int main(void)
{
    char topic[HT_TOPIC_MAX];
    if (ht_topic_build(topic, sizeof topic, NULL, HT_TOPIC_SYNC, NULL, NULL) <
            0 ||
        !ht_sem_name_valid("speed"))
        return 1;
    printf("pure libraries linked alone: %s, %s, %s\n", topic,
           ht_twin_kind_name(HT_TWIN_KIND_MOTOR), ht_ui_target_name(HT_UI_HMD));
    return 0;
}
