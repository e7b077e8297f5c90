#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Embed docs/openapi.yaml in the daemon: the YAML text and its JSON form as C strings."""
import json
import sys

import yaml


def c_string(name, data):
    body = ",".join(str(b) for b in data)
    return (f"const char {name}[] = {{{body},0}};\n"
            f"const unsigned long {name}_len = {len(data)};\n")


def main():
    src, out_c, out_h = sys.argv[1:4]
    with open(src, "rb") as f:
        raw = f.read()
    spec = yaml.safe_load(raw)
    if not isinstance(spec, dict) or "paths" not in spec:
        sys.exit(f"{src}: not an OpenAPI document (no paths)")
    as_json = json.dumps(spec, indent=2, sort_keys=False).encode() + b"\n"
    with open(out_c, "w") as f:
        f.write("/* generated from docs/openapi.yaml; do not edit */\n")
        f.write('#include "openapi-data.h"\n')
        f.write(c_string("imgd_openapi_yaml", raw))
        f.write(c_string("imgd_openapi_json", as_json))
    with open(out_h, "w") as f:
        f.write("/* generated from docs/openapi.yaml; do not edit */\n#pragma once\n")
        for name in ("imgd_openapi_yaml", "imgd_openapi_json"):
            f.write(f"extern const char {name}[];\nextern const unsigned long {name}_len;\n")


if __name__ == "__main__":
    main()
