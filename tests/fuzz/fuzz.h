/* fuzz.h - helpers shared by the libFuzzer harnesses (tests/fuzz/). Each
 * harness defines LLVMFuzzerTestOneInput; an invariant that fails calls
 * FUZZ_ASSERT, which aborts so libFuzzer records the input as a crash. */
#ifndef HT_FUZZ_H
#define HT_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                          \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A NUL-terminated copy of data (new: free()). */
static inline char *fuzz_str(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Split data at the first '\n': *head becomes a new NUL-terminated string,
 * *rest and *restlen the bytes after the newline (borrowed from data). */
static inline char *fuzz_split(const uint8_t *data, size_t size,
                               const uint8_t **rest, size_t *restlen)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n = nl ? (size_t)(nl - data) : size;
    *rest = nl ? nl + 1 : data + size;
    *restlen = nl ? size - n - 1 : 0;
    return fuzz_str(data, n);
}

#endif
