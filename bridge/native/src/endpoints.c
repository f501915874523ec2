/* Where the daemon's sockets are (docs/protocol.md 1.2), computed as the Python side does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client_internal.h"
#include "error.h"

/* Python's tempfile.gettempdir(): the first writable of $TMPDIR, $TEMP, $TMP, /tmp,
 * /var/tmp, /usr/tmp, the working directory. */
static const char* temp_dir(char* cwd, size_t cap) {
    const char* candidates[] = {getenv("TMPDIR"), getenv("TEMP"), getenv("TMP"), "/tmp", "/var/tmp", "/usr/tmp"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
        struct stat st;
        const char* dir = candidates[i];
        if (dir != NULL && *dir != '\0' && stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0)
            return dir;
    }
    return getcwd(cwd, cap) != NULL ? cwd : ".";
}

reverie_result rv_default_endpoint(char* out, size_t cap, const char* env, const char* name) {
    const char* given = env != NULL ? getenv(env) : NULL;
    if (given != NULL && *given != '\0') {
        if (snprintf(out, cap, "%s", given) >= (int)cap) return rv_fail(REVERIE_INVALID_ARGUMENT, "$%s is too long", env);
        return REVERIE_OK;
    }
    char cwd[512];
    const char* base = getenv("XDG_RUNTIME_DIR");
    if (base == NULL || *base == '\0') base = temp_dir(cwd, sizeof cwd);
    char dir[900];
    snprintf(dir, sizeof dir, "%s/reverie-%u", base, (unsigned)geteuid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return rv_fail(REVERIE_SYSTEM, "cannot create the socket folder %s: %s", dir, strerror(errno));
    /* A folder someone else made (or a link) would let them answer this game's hello. */
    struct stat st;
    if (lstat(dir, &st) != 0) return rv_fail(REVERIE_SYSTEM, "cannot inspect the socket folder %s: %s", dir, strerror(errno));
    if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        return rv_fail(REVERIE_SYSTEM,
                       "the socket folder %s is not private (%s, owner uid %u, mode %03o): remove it, set "
                       "XDG_RUNTIME_DIR, or set REVERIE_CONTROL",
                       dir, S_ISLNK(st.st_mode) ? "a symbolic link" : S_ISDIR(st.st_mode) ? "a folder" : "not a folder",
                       (unsigned)st.st_uid, (unsigned)(st.st_mode & 0777));
    if (snprintf(out, cap, "ipc://%s/%s", dir, name) >= (int)cap) return rv_fail(REVERIE_INVALID_ARGUMENT, "endpoint path too long");
    return REVERIE_OK;
}

reverie_result reverie_default_control_endpoint(char* out, size_t cap) {
    if (out == NULL || cap == 0) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_default_control_endpoint: out is NULL or cap is 0");
    char buf[RV_ENDPOINT_CAP];
    reverie_result r = rv_default_endpoint(buf, sizeof buf, "REVERIE_CONTROL", "control");
    if (r != REVERIE_OK) return r;
    if (strlen(buf) >= cap) return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_default_control_endpoint: needs %zu bytes", strlen(buf) + 1);
    memcpy(out, buf, strlen(buf) + 1);
    return REVERIE_OK;
}

void rv_connectable(char* out, size_t cap, const char* bound, const char* control) {
    snprintf(out, cap, "%s", bound);
    if (strncmp(bound, "tcp://", 6) != 0) return;
    const char* colon = strrchr(bound + 6, ':');
    if (colon == NULL) return;
    size_t host_len = (size_t)(colon - (bound + 6));
    const char* host = bound + 6;
    bool wildcard = (host_len == 1 && host[0] == '*') || (host_len == 7 && strncmp(host, "0.0.0.0", 7) == 0) ||
                    (host_len == 4 && strncmp(host, "[::]", 4) == 0);
    if (!wildcard) return;
    const char* control_rest = strstr(control, "://");
    control_rest = control_rest ? control_rest + 3 : control;
    const char* control_colon = strrchr(control_rest, ':');
    int control_host_len = control_colon ? (int)(control_colon - control_rest) : 0;
    if (control_host_len > 0)
        snprintf(out, cap, "tcp://%.*s%s", control_host_len, control_rest, colon);
    else
        snprintf(out, cap, "tcp://127.0.0.1%s", colon);
}
