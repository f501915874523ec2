/* msgpack in and out: building request maps and reading fields of decoded maps. */
#ifndef RV_MSG_H
#define RV_MSG_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A request being built: {"v": REVERIE_PROTOCOL_MAJOR, "op": op, ...fields}. */
typedef struct rv_request {
    msgpack_sbuffer buf;
    msgpack_packer pk;
} rv_request;

/* Start a request whose map will hold `fields` entries besides "v" and "op". */
void rv_request_begin(rv_request* r, const char* op, uint32_t fields);
void rv_request_free(rv_request* r);

/* Map entries (also used for frame notices through rv_map_begin). */
void rv_map_begin(rv_request* r, uint32_t entries);
void rv_put_str(rv_request* r, const char* key, const char* value);
void rv_put_uint(rv_request* r, const char* key, uint64_t value);
void rv_put_int(rv_request* r, const char* key, int64_t value);
void rv_put_double(rv_request* r, const char* key, double value);
void rv_put_bool(rv_request* r, const char* key, bool value);
/* bin values: only the CUDA transport's IPC handles (protocol 1.2) are bytes, not text. */
void rv_put_bin(rv_request* r, const char* key, const void* data, size_t size);
void rv_put_bin_array(rv_request* r, const char* key, const uint8_t* items, size_t item_size, uint32_t count);

/* Reading. Every getter returns false when the key is missing or of another type. */
const msgpack_object* rv_get(const msgpack_object* map, const char* key);
bool rv_is_int(const msgpack_object* o);
bool rv_is_number(const msgpack_object* o);
bool rv_get_str(const msgpack_object* map, const char* key, char* out, size_t cap);
bool rv_get_u64(const msgpack_object* map, const char* key, uint64_t* out);
bool rv_get_i64(const msgpack_object* map, const char* key, int64_t* out);
bool rv_get_f64(const msgpack_object* map, const char* key, double* out);
bool rv_get_bool(const msgpack_object* map, const char* key, bool* out);
/* An object's value as an int64 / double (any integer or float). */
bool rv_obj_i64(const msgpack_object* o, int64_t* out);
bool rv_obj_f64(const msgpack_object* o, double* out);
/* Copy a str object into out (NUL-terminated, cut at a UTF-8 character boundary). */
bool rv_obj_str(const msgpack_object* o, char* out, size_t cap);

/* Copy text into out, cut at a UTF-8 character boundary so the result stays valid. */
void rv_copy_text(char* out, size_t cap, const char* text, size_t len);

#endif
