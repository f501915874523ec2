/* The log callback: what the library has to say (connected, disconnected and why, frames
 * the daemon refused) goes to the engine's own log (UE_LOG, Debug.Log) when one is set. */
#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static reverie_log_fn callback = NULL;
static void* callback_user = NULL;

void reverie_set_log_callback(reverie_log_fn fn, void* user) {
    pthread_mutex_lock(&lock);
    callback = fn;
    callback_user = user;
    pthread_mutex_unlock(&lock);
}

void rv_log(int level, const char* fmt, ...) {
    char message[RV_LOG_CAP];
    va_list args;
    va_start(args, fmt);
    vsnprintf(message, sizeof message, fmt, args);
    va_end(args);
    /* Called under the lock: reverie_set_log_callback(NULL, NULL) returns only once no call
     * to the old callback is running, so a plugin may unload its callback's code after it. */
    pthread_mutex_lock(&lock);
    if (callback != NULL) callback(callback_user, level, message);
    pthread_mutex_unlock(&lock);
}
