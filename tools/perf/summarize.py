#!/usr/bin/env python3
# Median and best of ab.sh output lines ("variant {json}") per variant and field.
import sys, json, statistics, collections
rows = collections.defaultdict(lambda: collections.defaultdict(list))
for line in sys.stdin:
    name, _, rest = line.partition(' ')
    try: d = json.loads(rest)
    except Exception: continue
    for k, v in d.items(): rows[name][k].append(v)
fields = sys.argv[1:] or None
for name, d in rows.items():
    out = []
    for k, vs in d.items():
        if fields and k not in fields: continue
        out.append(f"{k} med {statistics.median(vs):.1f} max {max(vs):.1f} (n={len(vs)})")
    print(name, ' | '.join(out))
