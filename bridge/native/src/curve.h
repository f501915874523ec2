/* CURVE keys from `reverie keys DIR` for non-local control/events endpoints (protocol 1.3). */
#ifndef RV_CURVE_H
#define RV_CURVE_H

#include <stdbool.h>

#include "reverie.h"

typedef struct rv_curve {
    bool enabled;
    char server_public[41]; /* Z85, from DIR/server.key */
    char public_key[41];    /* from DIR/client.key_secret */
    char secret_key[41];
} rv_curve;

/* Load DIR/server.key and DIR/client.key_secret (ZPL certificates). */
reverie_result rv_curve_load(rv_curve* curve, const char* dir);

/* Make a REQ or SUB socket a CURVE client; does nothing when curve is NULL or disabled. */
reverie_result rv_curve_apply(void* socket, const rv_curve* curve);

#endif
