/* STEER-group helpers shared with the console (call with steer_lock held). */
#ifndef RV_STEER_H
#define RV_STEER_H

#include "client_internal.h"

/* One control request on the steering socket; see rv_control_request. */
reverie_result rv_steer_request(reverie_client* c, rv_request* req, rv_reply* reply);

reverie_result rv_steer_set_params(reverie_client* c, const int64_t* steps, const double* strength, const int64_t* seed);
reverie_result rv_steer_set_prompt(reverie_client* c, const char* text, int64_t transition_frames);
void rv_preset_from(const msgpack_object* map, reverie_preset* out);

#endif
