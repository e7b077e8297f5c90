/* SPDX-License-Identifier: MIT */
/* Input checking of the IMS face as its clients know it: the original validated with marshmallow
 * schemas, and clients (and their tests) read the per-field messages it gave. A schema here is a
 * table of fields; loading an object gives the cleaned values (booleans and integers coerced as
 * marshmallow coerces them, UUIDs in canonical form) and fills an errors object shaped as
 * marshmallow's: field -> [messages], nested schemas nest, list elements by index as a string,
 * unknown fields "Unknown field.", a value that is not an object {"_schema": ["Invalid input
 * type."]}.
 *
 * Also here: the problem+json answers with IMS's fixed texts, reading a request body as IMS did,
 * uuid4 ids and record timestamps. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"

typedef enum ims_ftype {
    IMS_STR,
    IMS_BOOL,
    IMS_INT,
    IMS_UUID,
    IMS_NESTED, /* an object checked with .nested */
    IMS_LIST,   /* a list of objects checked with .nested */
    IMS_ANY,    /* checked by the handler */
} ims_ftype;

typedef struct ims_schema ims_schema;

typedef struct ims_field {
    const char *name;
    ims_ftype type;
    bool required;
    bool nullable;
    const char *blank_msg;      /* Length(min=1) message, or NULL for no check */
    const char *const *choices; /* NULL-terminated, or NULL */
    const char *choice_msg;     /* printf format with one %s (the choices joined by ", ") */
    bool has_min;               /* IMS_INT: Range(min=...) */
    int64_t min;
    const char *min_msg;
    const ims_schema *nested;
} ims_field;

struct ims_schema {
    const ims_field *fields;
    size_t n;
};

#define IMS_SCHEMA(f)                                                                              \
    {                                                                                              \
        (f), sizeof(f) / sizeof((f)[0])                                                            \
    }

/* Check in against s. Returns the loaded object (only the fields present), and adds messages to
 * errors (an object the caller made). NULL only when out of memory. */
json_t *ims_schema_load(const ims_schema *s, const json_t *in, json_t *errors);

/* Add msg to the list errors[key]. */
void ims_error_add(json_t *errors, const char *key, const char *msg);

/* The fixed texts of IMS's problems. */
extern const char IMS_DETAIL_NO_INPUT[];
extern const char IMS_DETAIL_NOT_FOUND[];
extern const char IMS_DETAIL_CONFLICT[];
extern const char IMS_DETAIL_INVALID[];

/* An application/problem+json answer {status, title, detail[, errors]}: title NULL is the reason
 * phrase, detail NULL leaves detail out, errors (stolen) is added when not NULL. */
int ims_problem(imgd_response *resp, unsigned status, const char *title, const char *detail,
                json_t *errors);

/* Read the request body as IMS's POST and PATCH did: a missing or non-JSON body is 400 as Flask
 * answered it ({"message": ...}, application/json); a falsy one ({} [] null "" 0 false) is 400
 * "No input provided". Returns 0 with *out, or 1 when the answer is made. */
int ims_read_body(imgd_request *req, imgd_response *resp, json_t **out);

/* A new random UUID (version 4), lowercase. */
void ims_uuid4(char out[37]);

/* Canonical lowercase form of a UUID in any form Python's uuid.UUID() takes (hyphens, braces,
 * "urn:uuid:"). False when s is not one. */
bool ims_uuid_normalize(const char *s, char out[37]);

/* A record timestamp ("2026-11-22T10:25:48.687134", local time) and the usec it is of. */
uint64_t ims_now(char out[40]);

/* Seconds in a job age of DELETE /jobs: "2w", "3d", "6h", "30m", combined as "1d6h"; a unit may
 * be spelt out ("2weeks", "3days", "90min"). -1 when it is not one: unlike IMS, which took a
 * string without a unit as 0 (and so deleted every job), that is refused. */
int64_t ims_parse_age(const char *s);
