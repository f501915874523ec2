#include "pyfmt.h"

#include <math.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rv_text_init(rv_text* t, char* buf, size_t cap) {
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    if (cap > 0) buf[0] = '\0';
}

void rv_text_add(rv_text* t, const char* fmt, ...) {
    if (t->cap == 0 || t->len >= t->cap - 1) return;
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, args);
    va_end(args);
    if (n > 0) t->len = t->len + (size_t)n < t->cap - 1 ? t->len + (size_t)n : t->cap - 1;
}

/* Python picks single quotes unless the text holds a ' and no ". */
void rv_text_repr(rv_text* t, const char* s, size_t len) {
    char quote = memchr(s, '\'', len) && !memchr(s, '"', len) ? '"' : '\'';
    rv_text_add(t, "%c", quote);
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '\\' || ch == (unsigned char)quote) rv_text_add(t, "\\%c", ch);
        else if (ch == '\n') rv_text_add(t, "\\n");
        else if (ch == '\r') rv_text_add(t, "\\r");
        else if (ch == '\t') rv_text_add(t, "\\t");
        else if (ch < 0x20 || ch == 0x7f) rv_text_add(t, "\\x%02x", ch);
        else if (ch == 0xC2 && i + 1 < len && (unsigned char)s[i + 1] < 0xA0) { /* C1 controls */
            rv_text_add(t, "\\x%02x", (unsigned char)s[i + 1]);
            i++;
        } else rv_text_add(t, "%c", ch);
    }
    rv_text_add(t, "%c", quote);
}

/* The shortest digits that read back as v, laid out as Python's float repr does: plain
 * notation for exponents -4..15 (always with a fraction, "1.0"), else d.ddde+XX. */
void rv_text_float(rv_text* t, double v) {
    if (isnan(v)) { rv_text_add(t, "nan"); return; }
    if (isinf(v)) { rv_text_add(t, v > 0 ? "inf" : "-inf"); return; }
    char sci[40];
    for (int precision = 1; precision <= 17; precision++) {
        snprintf(sci, sizeof sci, "%.*e", precision - 1, v);
        if (strtod(sci, NULL) == v) break;
    }
    char digits[24];
    size_t n = 0;
    const char* p = sci;
    bool negative = *p == '-';
    if (negative) p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9') digits[n++] = *p;
    while (n > 1 && digits[n - 1] == '0') n--;
    digits[n] = '\0';
    int exponent = atoi(p + 1);
    if (negative) rv_text_add(t, "-");
    if (exponent < -4 || exponent >= 16) {
        rv_text_add(t, "%c", digits[0]);
        if (n > 1) rv_text_add(t, ".%s", digits + 1);
        rv_text_add(t, "e%c%02d", exponent < 0 ? '-' : '+', abs(exponent));
    } else if (exponent < 0) {
        rv_text_add(t, "0.%.*s%s", -exponent - 1, "0000", digits);
    } else {
        for (int i = 0; i <= exponent; i++) rv_text_add(t, "%c", (size_t)i < n ? digits[i] : '0');
        rv_text_add(t, ".%s", (size_t)exponent + 1 < n ? digits + exponent + 1 : "0");
    }
}

void rv_text_obj(rv_text* t, const msgpack_object* o) {
    if (o == NULL) { rv_text_add(t, "None"); return; }
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: rv_text_add(t, "None"); break;
    case MSGPACK_OBJECT_BOOLEAN: rv_text_add(t, o->via.boolean ? "True" : "False"); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: rv_text_add(t, "%llu", (unsigned long long)o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: rv_text_add(t, "%lld", (long long)o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: rv_text_float(t, o->via.f64); break;
    case MSGPACK_OBJECT_STR: rv_text_add(t, "%.*s", (int)o->via.str.size, o->via.str.ptr); break;
    case MSGPACK_OBJECT_ARRAY:
        rv_text_add(t, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            const msgpack_object* item = &o->via.array.ptr[i];
            if (i) rv_text_add(t, ", ");
            if (item->type == MSGPACK_OBJECT_STR) rv_text_repr(t, item->via.str.ptr, item->via.str.size);
            else rv_text_obj(t, item);
        }
        rv_text_add(t, "]");
        break;
    default: rv_text_add(t, "?"); break;
    }
}
