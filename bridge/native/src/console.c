/* `reverie console`'s command language (bridge/console.py, Console.handle) for in-game
 * consoles: the same commands, checks and reply texts, so Unity and Unreal players type
 * exactly what a streamer types at the terminal. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "msg.h"
#include "pyfmt.h"
#include "steer.h"

#define RV_CONSOLE_TEXT 65536 /* longest reply built: a long /preset list */

static const char HELP[] =
    "  any text         set the prompt (blended over the current /transition frames)\n"
    "  /preset          list the daemon's presets (its style packs)\n"
    "  /preset NAME     load a preset (prompt, steps, strength, seed)\n"
    "  /steps N         denoising steps (1-8)\n"
    "  /strength X      how far to restyle, 0.0-1.0\n"
    "  /seed N          noise seed\n"
    "  /transition N    frames to blend over for the prompts typed next (this console only)\n"
    "  /reset           drop the stylizer's temporal history (e.g. after a camera cut)\n"
    "  /status          the daemon's state\n"
    "  /help            this list\n"
    "  /quit            leave (Ctrl-D works too)";

/* Python's str.strip() for ASCII whitespace. */
static void strip(const char** s, size_t* len) {
    while (*len > 0 && isspace((unsigned char)**s)) (*s)++, (*len)--;
    while (*len > 0 && isspace((unsigned char)(*s)[*len - 1])) (*len)--;
}

/* Python's int()/float() text rules that matter here: optional sign, digits with single
 * underscores between them; float() also takes a fraction, an exponent, inf and nan. */
static bool python_number(const char* s, size_t len, bool integer, char* clean, size_t cap) {
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == '_') {
            if (i == 0 || i + 1 == len || !isdigit((unsigned char)s[i - 1]) || !isdigit((unsigned char)s[i + 1])) return false;
            continue;
        }
        if (n + 1 >= cap) return false;
        clean[n++] = ch;
    }
    clean[n] = '\0';
    if (n == 0) return false;
    const char* p = clean + (clean[0] == '+' || clean[0] == '-');
    if (integer) {
        if (*p == '\0') return false;
        for (; *p; p++)
            if (!isdigit((unsigned char)*p)) return false;
        return true;
    }
    const char* words[] = {"inf", "infinity", "nan"};
    for (size_t w = 0; w < 3; w++)
        if (strcasecmp(p, words[w]) == 0) return true;
    bool digits = false;
    while (isdigit((unsigned char)*p)) p++, digits = true;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p)) p++, digits = true;
    }
    if (!digits) return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!isdigit((unsigned char)*p)) return false;
        while (isdigit((unsigned char)*p)) p++;
    }
    return *p == '\0';
}

/* "/steps needs an integer, got 'x' (usage: /steps N)": console.py's _number. */
static reverie_result usage_error(rv_text* out, const char* usage, bool integer, const char* arg, size_t len) {
    size_t word = strcspn(usage, " ");
    rv_text_add(out, "error: %.*s needs %s, got ", (int)word, usage, integer ? "an integer" : "a number");
    rv_text_repr(out, arg, len);
    rv_text_add(out, " (usage: %s)", usage);
    return REVERIE_INVALID_ARGUMENT;
}

/* Parse an integer argument; beyond int64, say what the daemon would say of the value. */
static reverie_result parse_int(rv_text* out, const char* usage, const char* field, const char* arg, size_t len, int64_t* value) {
    char clean[128];
    if (!python_number(arg, len, true, clean, sizeof clean)) return usage_error(out, usage, true, arg, len);
    errno = 0;
    long long v = strtoll(clean, NULL, 10);
    if (errno == ERANGE) {
        rv_text_add(out, "error: invalid: set_params.%s=%s is outside the range a request can carry", field, clean);
        return REVERIE_REJECTED;
    }
    *value = v;
    return REVERIE_OK;
}

static reverie_result daemon_error(rv_text* out, reverie_result r) {
    rv_text_add(out, "error: %s", rv_error_text());
    return r;
}

static reverie_result cmd_prompt(reverie_client* c, rv_text* out, const char* text, size_t len) {
    char* prompt = strndup(text, len);
    if (prompt == NULL) return rv_fail(REVERIE_OUT_OF_MEMORY, "out of memory");
    reverie_result r = rv_steer_set_prompt(c, prompt, c->console_transition);
    free(prompt);
    if (r != REVERIE_OK) return daemon_error(out, r);
    rv_text_add(out, "prompt set: ");
    rv_text_repr(out, text, len);
    rv_text_add(out, " (transition %d frames)", c->console_transition);
    return REVERIE_OK;
}

static void say_preset(rv_text* out, const msgpack_object* p, bool listing) {
    const msgpack_object* prompt = rv_get(p, "prompt");
    const char* text = prompt && prompt->type == MSGPACK_OBJECT_STR ? prompt->via.str.ptr : "";
    size_t len = prompt && prompt->type == MSGPACK_OBJECT_STR ? prompt->via.str.size : 0;
    if (listing) {
        rv_text_add(out, "  ");
        size_t start = out->len;
        rv_text_obj(out, rv_get(p, "name"));
        for (size_t written = out->len - start; written < 12; written++) rv_text_add(out, " "); /* {name:<12} */
        rv_text_add(out, " ");
    } else {
        rv_text_add(out, "preset ");
        rv_text_obj(out, rv_get(p, "name"));
        rv_text_add(out, ": prompt ");
    }
    rv_text_repr(out, text, len);
    rv_text_add(out, "  steps ");
    rv_text_obj(out, rv_get(p, "steps"));
    rv_text_add(out, "  strength ");
    rv_text_obj(out, rv_get(p, "strength"));
    rv_text_add(out, "  seed ");
    rv_text_obj(out, rv_get(p, "seed"));
    if (!listing) {
        rv_text_add(out, "  (transition ");
        rv_text_obj(out, rv_get(p, "transition_frames"));
        rv_text_add(out, " frames)");
    }
    /* A style pack's author and weights, as console.py's pack_extras (absent from older daemons). */
    const msgpack_object* author = rv_get(p, "author");
    if (author && author->type == MSGPACK_OBJECT_STR && author->via.str.size > 0) {
        rv_text_add(out, "  by %.*s", (int)author->via.str.size, author->via.str.ptr);
    }
    const msgpack_object* weights = rv_get(p, "has_weights");
    if (weights && weights->type == MSGPACK_OBJECT_BOOLEAN && weights->via.boolean) rv_text_add(out, "  [fine-tuned weights]");
}

static reverie_result cmd_preset(reverie_client* c, rv_text* out, const char* name, size_t len) {
    rv_request req;
    rv_reply reply;
    char* owned = strndup(name, len);
    if (owned == NULL) return rv_fail(REVERIE_OUT_OF_MEMORY, "out of memory");
    if (len == 0) {
        rv_request_begin(&req, "list_presets", 0);
    } else {
        rv_request_begin(&req, "load_preset", 1);
        rv_put_str(&req, "name", owned);
    }
    free(owned);
    reverie_result r = rv_steer_request(c, &req, &reply);
    rv_request_free(&req);
    if (r != REVERIE_OK) {
        daemon_error(out, r);
    } else if (len == 0) {
        const msgpack_object* list = rv_get(reply.map, "presets");
        for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY && i < list->via.array.size; i++) {
            if (i) rv_text_add(out, "\n");
            say_preset(out, &list->via.array.ptr[i], true);
        }
    } else {
        say_preset(out, rv_get(reply.map, "preset"), false);
    }
    rv_reply_free(&reply);
    return r;
}

static void say_ms(rv_text* out, const msgpack_object* stats, const char* key) {
    double v;
    if (rv_get_f64(stats, key, &v)) rv_text_add(out, "%.1f ms", v);
    else rv_text_add(out, "-");
}

/* cli.format_status plus the console's own line. */
static reverie_result cmd_status(reverie_client* c, rv_text* out) {
    rv_request req;
    rv_reply reply;
    rv_request_begin(&req, "status", 0);
    reverie_result r = rv_steer_request(c, &req, &reply);
    rv_request_free(&req);
    if (r != REVERIE_OK) {
        rv_reply_free(&reply);
        return daemon_error(out, r);
    }
    const msgpack_object *m = reply.map, *settings = rv_get(m, "settings"), *stats = rv_get(m, "stats");
    const msgpack_object *game = rv_get(m, "session"), *version = rv_get(m, "version");
    double uptime = 0, fps = 0;
    rv_get_f64(m, "uptime_s", &uptime);
    rv_text_add(out, "daemon pid ");
    rv_text_obj(out, rv_get(m, "daemon_pid"));
    rv_text_add(out, "  protocol ");
    for (uint32_t i = 0; version && version->type == MSGPACK_OBJECT_ARRAY && i < version->via.array.size; i++) {
        if (i) rv_text_add(out, ".");
        rv_text_obj(out, &version->via.array.ptr[i]);
    }
    rv_text_add(out, "  up %.0f s  stylizer ", uptime);
    rv_text_obj(out, rv_get(m, "stylizer"));
    rv_text_add(out, "\ngame    ");
    if (game == NULL || game->type != MSGPACK_OBJECT_MAP) {
        rv_text_add(out, "none");
    } else {
        rv_text_obj(out, rv_get(game, "client"));
        rv_text_add(out, " (pid ");
        rv_text_obj(out, rv_get(game, "pid"));
        rv_text_add(out, ") size ");
        rv_text_obj(out, rv_get(game, "size"));
    }
    const msgpack_object* prompt = rv_get(settings, "prompt");
    rv_text_add(out, "\nprompt  ");
    if (prompt && prompt->type == MSGPACK_OBJECT_STR) rv_text_repr(out, prompt->via.str.ptr, prompt->via.str.size);
    rv_text_add(out, "  steps ");
    rv_text_obj(out, rv_get(settings, "steps"));
    rv_text_add(out, "  strength ");
    rv_text_obj(out, rv_get(settings, "strength"));
    rv_text_add(out, "  seed ");
    rv_text_obj(out, rv_get(settings, "seed"));
    rv_get_f64(stats, "fps", &fps);
    rv_text_add(out, "\nstats   %.1f fps  latency p50 ", fps);
    say_ms(out, stats, "latency_p50_ms");
    rv_text_add(out, " p95 ");
    say_ms(out, stats, "latency_p95_ms");
    rv_text_add(out, "  frames ");
    rv_text_obj(out, rv_get(stats, "frames"));
    rv_text_add(out, "  dropped ");
    rv_text_obj(out, rv_get(stats, "dropped"));
    rv_text_add(out, "  failed ");
    rv_text_obj(out, rv_get(stats, "failed"));
    const msgpack_object* counters = rv_get(m, "stylizer_counters");
    if (counters && counters->type == MSGPACK_OBJECT_MAP && counters->via.map.size > 0) {
        rv_text_add(out, "\nmodel   ");
        for (uint32_t i = 0; i < counters->via.map.size; i++) {
            const msgpack_object* key = &counters->via.map.ptr[i].key;
            if (i) rv_text_add(out, "  ");
            for (uint32_t k = 0; key->type == MSGPACK_OBJECT_STR && k < key->via.str.size; k++)
                rv_text_add(out, "%c", key->via.str.ptr[k] == '_' ? ' ' : key->via.str.ptr[k]);
            rv_text_add(out, " ");
            rv_text_obj(out, &counters->via.map.ptr[i].val);
        }
    }
    rv_text_add(out, "\nconsole transition %d frames", c->console_transition);
    rv_reply_free(&reply);
    return REVERIE_OK;
}

static reverie_result cmd_params(reverie_client* c, rv_text* out, const char* name, const char* arg, size_t len) {
    reverie_result r;
    if (strcmp(name, "/strength") == 0) {
        char clean[128];
        if (!python_number(arg, len, false, clean, sizeof clean)) return usage_error(out, "/strength X", false, arg, len);
        double strength = strtod(clean, NULL);
        if ((r = rv_steer_set_params(c, NULL, &strength, NULL)) != REVERIE_OK) return daemon_error(out, r);
        rv_text_add(out, "strength set to ");
        rv_text_float(out, strength);
        return REVERIE_OK;
    }
    bool steps = strcmp(name, "/steps") == 0;
    int64_t value;
    r = parse_int(out, steps ? "/steps N" : "/seed N", steps ? "steps" : "seed", arg, len, &value);
    if (r != REVERIE_OK) return r;
    if ((r = rv_steer_set_params(c, steps ? &value : NULL, NULL, steps ? NULL : &value)) != REVERIE_OK) return daemon_error(out, r);
    rv_text_add(out, "%s set to %lld", steps ? "steps" : "seed", (long long)value);
    return REVERIE_OK;
}

static reverie_result cmd_transition(reverie_client* c, rv_text* out, const char* arg, size_t len) {
    if (len > 0) {
        char clean[128];
        if (!python_number(arg, len, true, clean, sizeof clean)) return usage_error(out, "/transition N", true, arg, len);
        errno = 0;
        long long frames = strtoll(clean, NULL, 10);
        if (errno == ERANGE || frames < 0 || frames > RV_MAX_TRANSITION_FRAMES) {
            rv_text_add(out, "error: /transition takes 0 to %d frames", RV_MAX_TRANSITION_FRAMES);
            return REVERIE_INVALID_ARGUMENT;
        }
        c->console_transition = (int32_t)frames;
    }
    rv_text_add(out, "transition %d frames for the next prompts", c->console_transition);
    return REVERIE_OK;
}

static reverie_result run(reverie_client* c, rv_text* out, const char* line, size_t len) {
    strip(&line, &len);
    if (len == 0) return REVERIE_OK;
    if (line[0] != '/') return cmd_prompt(c, out, line, len);
    const char* space = memchr(line, ' ', len);
    size_t name_len = space ? (size_t)(space - line) : len, full_len = name_len;
    char name[64];
    const char* arg = space ? space + 1 : line + len;
    size_t arg_len = len - (size_t)(arg - line);
    strip(&arg, &arg_len);
    if (name_len >= sizeof name) name_len = sizeof name - 1; /* long enough to be unknown */
    memcpy(name, line, name_len);
    name[name_len] = '\0';
    if (strcmp(name, "/quit") == 0) return REVERIE_QUIT;
    if (strcmp(name, "/preset") == 0) return cmd_preset(c, out, arg, arg_len);
    if (strcmp(name, "/steps") == 0 || strcmp(name, "/strength") == 0 || strcmp(name, "/seed") == 0)
        return cmd_params(c, out, name, arg, arg_len);
    if (strcmp(name, "/transition") == 0) return cmd_transition(c, out, arg, arg_len);
    if (strcmp(name, "/status") == 0) return cmd_status(c, out);
    if (strcmp(name, "/help") == 0) {
        rv_text_add(out, "%s", HELP);
        return REVERIE_OK;
    }
    if (strcmp(name, "/reset") == 0) {
        rv_request req;
        rv_reply reply;
        rv_request_begin(&req, "reset_history", 0);
        reverie_result r = rv_steer_request(c, &req, &reply);
        rv_request_free(&req);
        rv_reply_free(&reply);
        if (r != REVERIE_OK) return daemon_error(out, r);
        rv_text_add(out, "history reset");
        return REVERIE_OK;
    }
    rv_text_add(out, "error: unknown command %.*s (try /help)", (int)full_len, line);
    return REVERIE_INVALID_ARGUMENT;
}

reverie_result reverie_console_exec(reverie_client* c, const char* line, char* reply, size_t cap) {
    if (c == NULL || line == NULL || reply == NULL || cap == 0)
        return rv_fail(REVERIE_INVALID_ARGUMENT, "reverie_console_exec: client, line and reply must not be NULL, cap not 0");
    char* full = malloc(RV_CONSOLE_TEXT); /* the whole reply; the caller's buffer may be smaller */
    if (full == NULL) return rv_fail(REVERIE_OUT_OF_MEMORY, "reverie_console_exec: out of memory");
    rv_text out;
    rv_text_init(&out, full, RV_CONSOLE_TEXT);
    pthread_mutex_lock(&c->steer_lock);
    reverie_result r = run(c, &out, line, strlen(line));
    pthread_mutex_unlock(&c->steer_lock);
    rv_copy_text(reply, cap, out.buf, out.len);
    if (r != REVERIE_OK && r != REVERIE_QUIT)
        rv_fail(r, "%s", strncmp(full, "error: ", 7) == 0 ? full + 7 : full); /* last_error: the same, unprefixed */
    free(full);
    return r;
}
