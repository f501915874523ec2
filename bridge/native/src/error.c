/* Errors are reported by code, with the words kept per thread: the render thread and
 * the game thread each read their own last error, with nothing to lock. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[RV_ERROR_CAP];

reverie_result rv_fail(reverie_result code, const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, args);
    va_end(args);
    return code;
}

const char* rv_error_text(void) { return last_error; }

const char* reverie_last_error(const reverie_client* client) {
    (void)client;
    return last_error;
}

const char* reverie_result_name(int result) {
    switch (result) {
    case REVERIE_OK: return "REVERIE_OK";
    case REVERIE_NONE_YET: return "REVERIE_NONE_YET";
    case REVERIE_SKIPPED: return "REVERIE_SKIPPED";
    case REVERIE_DROPPED: return "REVERIE_DROPPED";
    case REVERIE_QUIT: return "REVERIE_QUIT";
    case REVERIE_INVALID_ARGUMENT: return "REVERIE_INVALID_ARGUMENT";
    case REVERIE_UNAVAILABLE: return "REVERIE_UNAVAILABLE";
    case REVERIE_REJECTED: return "REVERIE_REJECTED";
    case REVERIE_BUSY: return "REVERIE_BUSY";
    case REVERIE_PROTOCOL: return "REVERIE_PROTOCOL";
    case REVERIE_TIMEOUT: return "REVERIE_TIMEOUT";
    case REVERIE_OUT_OF_MEMORY: return "REVERIE_OUT_OF_MEMORY";
    case REVERIE_SYSTEM: return "REVERIE_SYSTEM";
    case REVERIE_UNSUPPORTED: return "REVERIE_UNSUPPORTED";
    default: return "REVERIE_UNKNOWN_RESULT";
    }
}

const char* reverie_version(void) { return REVERIE_VERSION_STRING; }

int reverie_abi_version(void) { return REVERIE_ABI_VERSION; }
