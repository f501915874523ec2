/* The library's log lines, to the callback set by reverie_set_log_callback. */
#ifndef RV_LOG_H
#define RV_LOG_H

#include "error.h"
#include "reverie.h"

#define RV_LOG_CAP 512

/* Format a line and hand it to the log callback, if one is set (any thread). */
void rv_log(int level, const char* fmt, ...) RV_PRINTF(2, 3);

#endif
