/* SPDX-License-Identifier: MIT */
#include "ims_schema.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "face.h"
#include "util/buf.h"
#include "util/cleanup.h"
#include "util/strutil.h"
#include "util/timeutil.h"

const char IMS_DETAIL_NO_INPUT[] =
    "No input provided. Determine the specific information that is missing or invalid and then "
    "re-run the request with valid information.";
const char IMS_DETAIL_NOT_FOUND[] =
    "Requested resource does not exist. Re-run request with valid ID.";
const char IMS_DETAIL_CONFLICT[] =
    "Requested resource exists, but cannot be patched due to a patch conflict. Re-run request "
    "with valid input values.";
const char IMS_DETAIL_INVALID[] =
    "Input data was understood, but failed validation. Re-run request with valid input values "
    "for the fields indicated in the response.";

/* ---- errors ---- */

void ims_error_add(json_t *errors, const char *key, const char *msg)
{
    json_t *list = json_object_get(errors, key);
    if (!json_is_array(list)) {
        list = json_array();
        json_object_set_new(errors, key, list);
    }
    json_array_append_new(list, json_string(msg));
}

int ims_problem(imgd_response *resp, unsigned status, const char *title, const char *detail,
                json_t *errors)
{
    json_t *body = json_pack("{s:i, s:s}", "status", (int)status, "title",
                             title ? title : imgd_http_reason(status));
    if (body && detail)
        json_object_set_new(body, "detail", json_string(detail));
    if (body && errors)
        json_object_set(body, "errors", errors);
    json_decref(errors);
    if (!body)
        return -ENOMEM;
    int r = imgd_resp_json(resp, status, body, false);
    if (r == 0)
        resp->content_type = "application/problem+json";
    return r;
}

static int flask_bad_request(imgd_response *resp, const char *message)
{
    json_t *body = json_pack("{s:s}", "message", message);
    return body ? imgd_resp_json(resp, 400, body, false) : -ENOMEM;
}

static bool falsy(const json_t *v)
{
    return json_is_null(v) || json_is_false(v) || (json_is_object(v) && !json_object_size(v)) ||
           (json_is_array(v) && !json_array_size(v)) ||
           (json_is_string(v) && !json_string_length(v)) ||
           (json_is_integer(v) && !json_integer_value(v)) ||
           (json_is_real(v) && json_real_value(v) == 0.0);
}

int ims_read_body(imgd_request *req, imgd_response *resp, json_t **out)
{
    const char *ct = imgd_req_header(req, "Content-Type");
    size_t n = ct ? strcspn(ct, ";") : 0;
    while (n && ct[n - 1] == ' ')
        n--;
    bool json_ct = ct && ((n == 16 && !strncasecmp(ct, "application/json", 16)) ||
                          (n > 5 && !strncasecmp(ct + n - 5, "+json", 5)));
    int r;
    if (!json_ct) {
        r = flask_bad_request(resp, "Did not attempt to load JSON data because the request "
                                    "Content-Type was not 'application/json'.");
        return r < 0 ? r : 1;
    }
    if (!req->body || req->body_len == 0) {
        r = ims_problem(resp, 400, NULL, IMS_DETAIL_NO_INPUT, NULL);
        return r < 0 ? r : 1;
    }
    imgd_error *err = NULL;
    json_t *v = NULL;
    if (imgd_req_json(req, &v, &err) < 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "Failed to decode JSON object: %s", err ? err->message : "");
        imgd_error_free(err);
        r = flask_bad_request(resp, msg);
        return r < 0 ? r : 1;
    }
    if (falsy(v)) {
        json_decref(v);
        r = ims_problem(resp, 400, NULL, IMS_DETAIL_NO_INPUT, NULL);
        return r < 0 ? r : 1;
    }
    *out = v;
    return 0;
}

/* ---- ids and times ---- */

void ims_uuid4(char out[37])
{
    unsigned char b[16];
    size_t got = 0;
    while (got < sizeof b) {
        ssize_t n = getrandom(b + got, sizeof b - got, 0);
        if (n > 0)
            got += (size_t)n;
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

bool ims_uuid_normalize(const char *s, char out[37])
{
    if (!s)
        return false;
    if (!strncasecmp(s, "urn:", 4))
        s += 4;
    if (!strncasecmp(s, "uuid:", 5))
        s += 5;
    char hexd[33];
    size_t n = 0;
    size_t len = strlen(s);
    /* uuid.UUID() strips braces and hyphens anywhere and wants 32 hex digits */
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '{' || c == '}' || c == '-')
            continue;
        if (!isxdigit((unsigned char)c) || n == 32)
            return false;
        hexd[n++] = (char)tolower((unsigned char)c);
    }
    if (n != 32)
        return false;
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", hexd, hexd + 8, hexd + 12, hexd + 16, hexd + 20);
    return true;
}

uint64_t ims_now(char out[40])
{
    uint64_t usec = imgd_now_realtime_usec();
    imgd_time_format_python_iso(out, 40, usec);
    return usec;
}

/* ---- ages ---- */

int64_t ims_parse_age(const char *s)
{
    int64_t total = 0;
    bool any = false;
    while (*s) {
        if (!isdigit((unsigned char)*s))
            return -1;
        int64_t n = 0;
        while (isdigit((unsigned char)*s)) {
            n = n * 10 + (*s++ - '0');
            if (n > 100000000)
                return -1;
        }
        char word[16];
        size_t w = 0;
        while (isalpha((unsigned char)*s) && w < sizeof word - 1)
            word[w++] = (char)tolower((unsigned char)*s++);
        word[w] = '\0';
        if (isalpha((unsigned char)*s) || w == 0)
            return -1;
        static const struct {
            const char *name;
            int64_t seconds;
        } units[] = {
            {"weeks", 604800}, {"days", 86400}, {"hours", 3600}, {"minutes", 60}, {"mins", 60}};
        int64_t unit = 0;
        for (size_t i = 0; i < sizeof units / sizeof units[0] && !unit; i++) {
            size_t len = strlen(units[i].name);
            if (!strncmp(units[i].name, word, w) && w <= len &&
                (w == 1 || w >= 3 || !strcmp(word, "wk") || !strcmp(word, "hr")))
                unit = units[i].seconds;
        }
        if (!unit && (!strcmp(word, "wk") || !strcmp(word, "wks")))
            unit = 604800;
        if (!unit && (!strcmp(word, "hr") || !strcmp(word, "hrs")))
            unit = 3600;
        if (!unit)
            return -1;
        total += n * unit;
        any = true;
    }
    return any ? total : -1;
}

/* ---- fields ---- */

static const char *const truthy[] = {"t", "T", "true", "True", "TRUE", "on", "On", "ON",
                                     "y", "Y", "yes",  "Yes",  "YES",  "1",  NULL};
static const char *const falsey[] = {"f", "F", "false", "False", "FALSE", "off", "Off", "OFF",
                                     "n", "N", "no",    "No",    "NO",    "0",   NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++) {
        if (!strcmp(s, *list))
            return true;
    }
    return false;
}

/* marshmallow's Boolean: true/false, 1/0, and the strings above. */
static json_t *load_bool(const json_t *v)
{
    if (json_is_boolean(v))
        return json_incref((json_t *)v);
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1))
        return json_boolean(json_integer_value(v) == 1);
    if (json_is_real(v) && (json_real_value(v) == 0.0 || json_real_value(v) == 1.0))
        return json_boolean(json_real_value(v) == 1.0);
    if (json_is_string(v)) {
        if (in_list(json_string_value(v), truthy))
            return json_true();
        if (in_list(json_string_value(v), falsey))
            return json_false();
    }
    return NULL;
}

/* marshmallow's Integer (not strict): an integer, an integral real, or a string of one; never a
 * boolean. */
static json_t *load_int(const json_t *v)
{
    if (json_is_integer(v))
        return json_incref((json_t *)v);
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == (double)(json_int_t)d)
            return json_integer((json_int_t)d);
        return NULL;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        while (*s == ' ')
            s++;
        int64_t n;
        if (imgd_parse_int64(&n, s) == 0)
            return json_integer(n);
    }
    return NULL;
}

static void choices_text(char *out, size_t cap, const char *const *choices)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *const *c = choices; *c && used < cap; c++) {
        int n = snprintf(out + used, cap - used, "%s%s", c == choices ? "" : ", ", *c);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* A nested field's outcome: with messages in sub, they go under errors[name] and the loaded
 * value out is dropped. Steals sub and out. */
static json_t *nest_errors(json_t *errors, const char *name, json_t *sub, json_t *out)
{
    if (json_object_size(sub)) {
        json_object_set(errors, name, sub);
        json_decref(out);
        out = NULL;
    }
    json_decref(sub);
    return out;
}

/* Check one present value; returns the loaded value or NULL (messages added under name). */
static json_t *load_field(const ims_field *f, const json_t *v, json_t *errors)
{
    if (json_is_null(v)) {
        if (f->nullable)
            return json_null();
        ims_error_add(errors, f->name, "Field may not be null.");
        return NULL;
    }
    json_t *out = NULL;
    switch (f->type) {
    case IMS_STR:
        if (!json_is_string(v)) {
            ims_error_add(errors, f->name, "Not a valid string.");
            return NULL;
        }
        if (f->blank_msg && json_string_length(v) == 0) {
            ims_error_add(errors, f->name, f->blank_msg);
            return NULL;
        }
        if (f->choices && !in_list(json_string_value(v), f->choices)) {
            char list[256], msg[400];
            choices_text(list, sizeof list, f->choices);
            snprintf(msg, sizeof msg, f->choice_msg ? f->choice_msg : "Must be one of: %s.", list);
            ims_error_add(errors, f->name, msg);
            return NULL;
        }
        return json_incref((json_t *)v);
    case IMS_BOOL:
        out = load_bool(v);
        if (!out)
            ims_error_add(errors, f->name, "Not a valid boolean.");
        return out;
    case IMS_INT:
        out = load_int(v);
        if (!out) {
            ims_error_add(errors, f->name, "Not a valid integer.");
            return NULL;
        }
        if (f->has_min && json_integer_value(out) < f->min) {
            char msg[200];
            snprintf(msg, sizeof msg, "Must be greater than or equal to %lld.", (long long)f->min);
            ims_error_add(errors, f->name, f->min_msg ? f->min_msg : msg);
            json_decref(out);
            return NULL;
        }
        return out;
    case IMS_UUID: {
        char id[37];
        if (!json_is_string(v) || !ims_uuid_normalize(json_string_value(v), id)) {
            ims_error_add(errors, f->name, "Not a valid UUID.");
            return NULL;
        }
        return json_string(id);
    }
    case IMS_NESTED: {
        json_t *sub = json_object();
        return nest_errors(errors, f->name, sub, ims_schema_load(f->nested, v, sub));
    }
    case IMS_LIST: {
        if (!json_is_array(v)) {
            ims_error_add(errors, f->name, "Not a valid list.");
            return NULL;
        }
        out = json_array();
        json_t *sub = json_object();
        size_t i;
        json_t *el;
        json_array_foreach (v, i, el) {
            json_t *e = json_object();
            json_t *loaded = ims_schema_load(f->nested, el, e);
            if (json_object_size(e)) {
                char idx[24];
                snprintf(idx, sizeof idx, "%zu", i);
                json_object_set(sub, idx, e);
            }
            json_array_append_new(out, loaded ? loaded : json_null());
            json_decref(e);
        }
        return nest_errors(errors, f->name, sub, out);
    }
    case IMS_ANY:
        return json_incref((json_t *)v);
    }
    return NULL;
}

json_t *ims_schema_load(const ims_schema *s, const json_t *in, json_t *errors)
{
    if (!json_is_object(in)) {
        ims_error_add(errors, "_schema", "Invalid input type.");
        return NULL;
    }
    json_t *out = json_object();
    if (!out)
        return NULL;
    for (size_t i = 0; i < s->n; i++) {
        const ims_field *f = &s->fields[i];
        json_t *v = json_object_get(in, f->name);
        if (!v) {
            if (f->required)
                ims_error_add(errors, f->name, "Missing data for required field.");
            continue;
        }
        json_t *loaded = load_field(f, v, errors);
        if (loaded)
            json_object_set_new(out, f->name, loaded);
    }
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)in, key, v) {
        bool known = false;
        for (size_t i = 0; i < s->n && !known; i++)
            known = !strcmp(s->fields[i].name, key);
        if (!known)
            ims_error_add(errors, key, "Unknown field.");
    }
    return out;
}
