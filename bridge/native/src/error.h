/* The per-thread last-error text and the result names. */
#ifndef RV_ERROR_H
#define RV_ERROR_H

#include "reverie.h"

#if defined(__GNUC__)
#define RV_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define RV_PRINTF(a, b)
#endif

#define RV_ERROR_CAP 1024

/* Record a message for reverie_last_error() on this thread and return code. */
reverie_result rv_fail(reverie_result code, const char* fmt, ...) RV_PRINTF(2, 3);

/* The message recorded last on this thread. */
const char* rv_error_text(void);

#endif
