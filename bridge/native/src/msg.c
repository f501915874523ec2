/* The protocol's encoding rules (docs/protocol.md 1.4): str keys, str (not bin) values
 * except the CUDA transport's IPC handles,
 * integers of any width, floats as float64; replies are read leniently: unknown keys
 * are ignored. */
#include "msg.h"

#include <string.h>

#include "protocol.h"

void rv_request_begin(rv_request* r, const char* op, uint32_t fields) {
    rv_map_begin(r, fields + 2);
    rv_put_int(r, "v", RV_PROTOCOL_MAJOR);
    rv_put_str(r, "op", op);
}

void rv_map_begin(rv_request* r, uint32_t entries) {
    msgpack_sbuffer_init(&r->buf);
    msgpack_packer_init(&r->pk, &r->buf, msgpack_sbuffer_write);
    msgpack_pack_map(&r->pk, entries);
}

void rv_request_free(rv_request* r) { msgpack_sbuffer_destroy(&r->buf); }

static void put_key(rv_request* r, const char* key) { msgpack_pack_str_with_body(&r->pk, key, strlen(key)); }

void rv_put_str(rv_request* r, const char* key, const char* value) {
    put_key(r, key);
    msgpack_pack_str_with_body(&r->pk, value, strlen(value));
}

void rv_put_uint(rv_request* r, const char* key, uint64_t value) {
    put_key(r, key);
    msgpack_pack_uint64(&r->pk, value);
}

void rv_put_int(rv_request* r, const char* key, int64_t value) {
    put_key(r, key);
    msgpack_pack_int64(&r->pk, value);
}

void rv_put_double(rv_request* r, const char* key, double value) {
    put_key(r, key);
    msgpack_pack_double(&r->pk, value);
}

void rv_put_bool(rv_request* r, const char* key, bool value) {
    put_key(r, key);
    if (value)
        msgpack_pack_true(&r->pk);
    else
        msgpack_pack_false(&r->pk);
}

void rv_put_bin(rv_request* r, const char* key, const void* data, size_t size) {
    put_key(r, key);
    msgpack_pack_bin_with_body(&r->pk, data, size);
}

void rv_put_bin_array(rv_request* r, const char* key, const uint8_t* items, size_t item_size, uint32_t count) {
    put_key(r, key);
    msgpack_pack_array(&r->pk, count);
    for (uint32_t i = 0; i < count; i++) msgpack_pack_bin_with_body(&r->pk, items + i * item_size, item_size);
}

const msgpack_object* rv_get(const msgpack_object* map, const char* key) {
    if (map == NULL || map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t len = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object* k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len && memcmp(k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

bool rv_is_int(const msgpack_object* o) {
    return o != NULL && (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
}

bool rv_is_number(const msgpack_object* o) {
    return rv_is_int(o) || (o != NULL && (o->type == MSGPACK_OBJECT_FLOAT32 || o->type == MSGPACK_OBJECT_FLOAT64));
}

void rv_copy_text(char* out, size_t cap, const char* text, size_t len) {
    if (cap == 0) return;
    if (len >= cap) {
        len = cap - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) len--; /* not mid-character */
    }
    memcpy(out, text, len);
    out[len] = '\0';
}

bool rv_obj_str(const msgpack_object* o, char* out, size_t cap) {
    if (o == NULL || o->type != MSGPACK_OBJECT_STR) return false;
    rv_copy_text(out, cap, o->via.str.ptr, o->via.str.size);
    return true;
}

bool rv_obj_i64(const msgpack_object* o, int64_t* out) {
    if (o == NULL) return false;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *out = o->via.u64 > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)o->via.u64;
        return true;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return true;
    }
    return false;
}

bool rv_obj_f64(const msgpack_object* o, double* out) {
    if (o == NULL) return false;
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: *out = o->via.f64; return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: *out = (double)o->via.u64; return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: *out = (double)o->via.i64; return true;
    default: return false;
    }
}

bool rv_get_str(const msgpack_object* map, const char* key, char* out, size_t cap) {
    return rv_obj_str(rv_get(map, key), out, cap);
}

bool rv_get_u64(const msgpack_object* map, const char* key, uint64_t* out) {
    const msgpack_object* o = rv_get(map, key);
    if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return false;
    *out = o->via.u64;
    return true;
}

bool rv_get_i64(const msgpack_object* map, const char* key, int64_t* out) { return rv_obj_i64(rv_get(map, key), out); }

bool rv_get_f64(const msgpack_object* map, const char* key, double* out) { return rv_obj_f64(rv_get(map, key), out); }

bool rv_get_bool(const msgpack_object* map, const char* key, bool* out) {
    const msgpack_object* o = rv_get(map, key);
    if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN) return false;
    *out = o->via.boolean;
    return true;
}
