/* SPDX-License-Identifier: MIT */
/* The IMS schema loader on untrusted request bodies. Input: any bytes, parsed as a request body
 * is, then loaded with a schema that has every field type. Loading never fails for memory only:
 * every error key is a field of the schema, one not in it (each marked "Unknown field."), or
 * "_schema" alone; each message list holds strings; the loaded object holds only fields of the
 * schema, with the declared type (bool, integer >= min, canonical UUID, object, array); and with
 * no errors, every required field is there. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/ims_schema.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const kinds[] = {"create", "customize", NULL};

static const ims_field inner_fields[] = {
    {.name = "key", .type = IMS_STR, .required = true, .blank_msg = "blank"},
    {.name = "jail", .type = IMS_BOOL},
};
static const ims_schema inner = IMS_SCHEMA(inner_fields);

static const ims_field fields[] = {
    {.name = "job_type", .type = IMS_STR, .required = true, .choices = kinds},
    {.name = "artifact_id", .type = IMS_UUID, .required = true},
    {.name = "size", .type = IMS_INT, .has_min = true, .min = 1},
    {.name = "debug", .type = IMS_BOOL},
    {.name = "link", .type = IMS_NESTED, .nullable = true, .nested = &inner},
    {.name = "ssh", .type = IMS_LIST, .nullable = true, .nested = &inner},
    {.name = "any", .type = IMS_ANY},
};
static const ims_schema schema = IMS_SCHEMA(fields);

static const ims_field *field_of(const char *name)
{
    for (size_t i = 0; i < schema.n; i++) {
        if (!strcmp(fields[i].name, name))
            return &fields[i];
    }
    return NULL;
}

static void check_messages(const json_t *errors)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)errors, key, v) {
        if (json_is_array(v)) {
            size_t i;
            json_t *m;
            json_array_foreach (v, i, m)
                assert(json_is_string(m));
        } else {
            assert(json_is_object(v));
            check_messages(v);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = NULL;
    if (imgd_json_parse(&in, (const char *)data, size, 64, NULL) < 0)
        return 0;
    json_t *errors = json_object();
    assert(errors);
    json_t *out = ims_schema_load(&schema, in, errors);
    check_messages(errors);
    if (!json_is_object(in)) {
        assert(out == NULL && json_object_size(errors) == 1 && json_object_get(errors, "_schema"));
    } else {
        assert(out != NULL);
        const char *key;
        json_t *v;
        json_object_foreach (errors, key, v) {
            if (!field_of(key)) {
                assert(json_object_get(in, key));
                assert(json_array_size(v) == 1 &&
                       !strcmp(json_string_value(json_array_get(v, 0)), "Unknown field."));
            }
        }
        json_object_foreach (out, key, v) {
            const ims_field *f = field_of(key);
            assert(f);
            if (json_is_null(v)) {
                assert(f->nullable);
                continue;
            }
            switch (f->type) {
            case IMS_STR:
                assert(json_is_string(v));
                break;
            case IMS_BOOL:
                assert(json_is_boolean(v));
                break;
            case IMS_INT:
                assert(json_is_integer(v) && json_integer_value(v) >= f->min);
                break;
            case IMS_UUID: {
                char again[37];
                assert(json_is_string(v) && ims_uuid_normalize(json_string_value(v), again) &&
                       !strcmp(again, json_string_value(v)));
                break;
            }
            case IMS_NESTED:
                assert(json_is_object(v));
                break;
            case IMS_LIST:
                assert(json_is_array(v));
                break;
            case IMS_ANY:
                break;
            }
        }
        if (json_object_size(errors) == 0) {
            for (size_t i = 0; i < schema.n; i++)
                assert(!fields[i].required || json_object_get(out, fields[i].name));
        }
    }
    json_decref(out);
    json_decref(errors);
    json_decref(in);
    return 0;
}
