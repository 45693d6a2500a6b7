"""Decodes h2proto-encoded header blocks with Python's `hpack` package.

Input (argv[1]): JSON list of stories; a story is a list of cases
{"wire": hex, "headers": [[name_hex, value_hex], ...]} sharing one decoder.
Prints one summary line; exit 0 if every case matched, 1 on any mismatch,
3 if the `hpack` package is missing.
"""
import json
import sys

try:
    import hpack
except ImportError:
    print("python-hpack: module not installed")
    sys.exit(3)


def main():
    with open(sys.argv[1]) as f:
        stories = json.load(f)
    cases = mismatches = 0
    for n, story in enumerate(stories):
        decoder = hpack.Decoder()
        decoder.max_header_list_size = 1 << 30
        for i, case in enumerate(story):
            cases += 1
            want = [(bytes.fromhex(name), bytes.fromhex(value)) for name, value in case["headers"]]
            try:
                got = [(bytes(k), bytes(v)) for k, v in decoder.decode(bytes.fromhex(case["wire"]), raw=True)]
            except Exception as e:  # noqa: BLE001 - any failure is a mismatch
                got = repr(e)
            if got != want:
                mismatches += 1
                if mismatches <= 5:
                    print(f"story {n} case {i}: mismatch: {got!r:.300} != {want!r:.300}")
    print(f"python-hpack {hpack.__version__}: {len(stories)} stories, {cases} cases, {mismatches} mismatches")
    sys.exit(1 if mismatches else 0)


main()
