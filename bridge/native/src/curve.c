/* ZeroMQ certificate files are ZPL text: `    public-key = "<40 Z85 chars>"` under `curve`.
 * Reading the two keys we need is all the ZPL this library has to understand. */
#include "curve.h"

#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "error.h"

static bool read_key(const char* path, const char* name, char out[41]) {
    FILE* f = fopen(path, "r");
    if (f == NULL) return false;
    char line[512];
    bool found = false;
    size_t name_len = strlen(name);
    while (!found && fgets(line, sizeof line, f) != NULL) {
        const char* p = line + strspn(line, " \t");
        if (strncmp(p, name, name_len) != 0) continue;
        p += name_len;
        p += strspn(p, " \t");
        if (*p != '=') continue;
        p++;
        p += strspn(p, " \t");
        if (*p == '"') p++;
        if (strlen(p) >= 40) {
            memcpy(out, p, 40);
            out[40] = '\0';
            found = true;
        }
    }
    fclose(f);
    return found;
}

reverie_result rv_curve_load(rv_curve* curve, const char* dir) {
    memset(curve, 0, sizeof *curve);
    char server[1024], client[1024];
    snprintf(server, sizeof server, "%s/server.key", dir);
    snprintf(client, sizeof client, "%s/client.key_secret", dir);
    if (!read_key(server, "public-key", curve->server_public))
        return rv_fail(REVERIE_INVALID_ARGUMENT, "CURVE keys: no public-key in %s (make the keys with `reverie keys DIR`)", server);
    if (!read_key(client, "public-key", curve->public_key) || !read_key(client, "secret-key", curve->secret_key))
        return rv_fail(REVERIE_INVALID_ARGUMENT, "CURVE keys: no public-key/secret-key in %s (make the keys with `reverie keys DIR`)", client);
    curve->enabled = true;
    return REVERIE_OK;
}

reverie_result rv_curve_apply(void* socket, const rv_curve* curve) {
    if (curve == NULL || !curve->enabled) return REVERIE_OK;
    if (zmq_setsockopt(socket, ZMQ_CURVE_SERVERKEY, curve->server_public, 41) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_PUBLICKEY, curve->public_key, 41) != 0 ||
        zmq_setsockopt(socket, ZMQ_CURVE_SECRETKEY, curve->secret_key, 41) != 0)
        return rv_fail(REVERIE_SYSTEM, "CURVE keys refused by ZeroMQ: %s", zmq_strerror(zmq_errno()));
    return REVERIE_OK;
}
