#!/usr/bin/env python3
"""schema_check — validates JSON against Ottu's published OpenAPI schema objects
(tests/data/ottu-openapi), implementing the subset of JSON Schema they use:
type, properties, required, enum, maxLength, items, oneOf. Other keywords (format, default,
description, title, example, x-*) are annotations and ignored.

One reading goes beyond JSON Schema: the "FieldErrors" shape documents a property named
`field_name`, a placeholder for "any field". When `field_name` is the only property of a
schema, its subschema is applied to every property of the instance. Without that, every
object would match FieldErrors and the documented failure shapes could never satisfy a
oneOf.

Usage:
  schema_check.py response FILE.responses.json STATUS BODY.json   exit 0 when BODY matches
  schema_check.py request FILE.request.json BODY.json               exit 0 when BODY matches
  schema_check.py examples FILE.request.json                        prints NAME<TAB>JSON lines
"""
import json
import sys

TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def errors(schema, value, path="$"):
    """Returns a list of messages; empty when value matches schema."""
    out = []
    t = schema.get("type")
    if t is not None:
        kinds = t if isinstance(t, list) else [t]
        if not any(TYPES[k](value) for k in kinds):
            return [f"{path}: expected {t}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if "maxLength" in schema and isinstance(value, str) and len(value) > schema["maxLength"]:
        out.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                out.append(f"{path}: required property {key!r} missing")
        props = schema.get("properties", {})
        if list(props) == ["field_name"]:
            for key, v in value.items():
                out += errors(props["field_name"], v, f"{path}.{key}")
        else:
            for key, sub in props.items():
                if key in value:
                    out += errors(sub, value[key], f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            out += errors(schema["items"], v, f"{path}[{i}]")
    if "oneOf" in schema:
        results = [errors(s, value, path) for s in schema["oneOf"]]
        matched = [i for i, r in enumerate(results) if not r]
        if len(matched) != 1:
            titles = [s.get("title", str(i)) for i, s in enumerate(schema["oneOf"])]
            detail = "; ".join(f"{titles[i]}: {r[0]}" for i, r in enumerate(results) if r)
            out.append(f"{path}: matches {len(matched)} of oneOf {titles} ({detail})")
    return out


def request_schema(doc):
    return doc["body"]["content"]["application/json"]["schema"]


def main(argv):
    if len(argv) >= 2 and argv[1] == "examples":
        doc = json.load(open(argv[2]))
        content = doc["body"]["content"]["application/json"]
        if "example" in content["schema"]:
            print("schema-example\t" + json.dumps(content["schema"]["example"]))
        for name, ex in content.get("examples", {}).items():
            print(f"{name}\t" + json.dumps(ex["value"]))
        return 0
    if len(argv) == 5 and argv[1] == "response":
        doc = json.load(open(argv[2]))
        schema = doc["responses"][argv[3]]["content"]["application/json"]["schema"]
        body_file = argv[4]
    elif len(argv) == 4 and argv[1] == "request":
        schema = request_schema(json.load(open(argv[2])))
        body_file = argv[3]
    else:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        body = json.load(open(body_file))
    except ValueError as e:
        print(f"not JSON: {e}")
        return 1
    errs = errors(schema, body)
    for e in errs:
        print(e)
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
