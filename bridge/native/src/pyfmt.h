/* Python's text forms (repr of str and float, str of lists), so the native console's
 * replies read exactly like those of `reverie console`. */
#ifndef RV_PYFMT_H
#define RV_PYFMT_H

#include <msgpack.h>
#include <stddef.h>

/* A bounded text buffer: appends past the end are cut, never overflow. */
typedef struct rv_text {
    char* buf;
    size_t cap, len;
} rv_text;

void rv_text_init(rv_text* t, char* buf, size_t cap);
void rv_text_add(rv_text* t, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void rv_text_repr(rv_text* t, const char* s, size_t len); /* Python repr(str) */
void rv_text_float(rv_text* t, double v);                   /* Python repr(float) */
void rv_text_obj(rv_text* t, const msgpack_object* o);      /* Python str() of a decoded value */

#endif
