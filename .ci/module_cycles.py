#!/usr/bin/env python3
"""The import graph of graph-runtime's modules, from the `crate::`/`super::` paths of
each file (test modules left out); prints its cycles (strongly connected groups).

  python3 .ci/module_cycles.py [SRC] [--top] [-v]

--top: one node per top-level module (folders collapsed), the level at which
ARCHITECTURE.md promises no cycle; exits 1 if there is one, or if a room imports one
it must not (ROOMS below). -v: every edge."""
import os, re, sys
args = [a for a in sys.argv[1:] if not a.startswith('-')]
root = args[0] if args else 'graph-runtime/src'
mods = {}
for dp, _, fs in os.walk(root):
    for f in fs:
        if not f.endswith('.rs'): continue
        p = os.path.join(dp, f); rel = os.path.relpath(p, root)[:-3]
        parts = rel.split('/')
        if parts[-1] in ('mod', 'lib'): parts = parts[:-1]
        mods['::'.join(parts)] = open(p).read()
names = set(mods)
ALIASES = {}
# What each room may import (ARCHITECTURE.md): the engine nothing, inspection only
# the engine, observers the engine and inspection (the performance report draws
# graphs). Front ends are not listed: they may import any room.
ROOMS = {'engine': set(), 'observers': {'engine', 'inspect'}, 'inspect': {'engine'}}
def resolve(path):
    segs = path.split('::')
    if segs[0] in ALIASES and segs[0] not in names: segs = ALIASES[segs[0]].split('::') + segs[1:]
    best = None
    for i in range(1, len(segs) + 1):
        m = '::'.join(segs[:i])
        if m in names: best = m
    return best
edges = {m: set() for m in mods}
for m, src in mods.items():
    # strip tests
    src = re.split(r'#\[cfg\(test\)\]\s*mod tests', src)[0]
    src = re.sub(r'//[^\n]*', '', src)
    # expand use crate::{a, b::{c}} roughly: collect all crate:: paths
    for um in re.finditer(r'crate::([A-Za-z_:][A-Za-z0-9_:]*)(::\{([^;]*?)\})?', src):
        base = um.group(1).rstrip(':')
        cands = [base]
        if um.group(3):
            for item in re.split(r'[,{}\s]+', um.group(3)):
                if item and item not in ('self',): cands.append(base + '::' + item)
        for c in cands:
            t = resolve(c)
            if t and t != m and t != '' and not m.startswith(t + '::') and not t.startswith(m + '::'):
                edges[m].add(t)
    # super:: imports
    for um in re.finditer(r'\bsuper::([A-Za-z_][A-Za-z0-9_:]*)', src):
        parent = m.rsplit('::', 1)[0] if '::' in m else ''
        c = (parent + '::' if parent else '') + um.group(1)
        t = resolve(c) or parent
        if t and t != m and not m.startswith(t + '::') and not t.startswith(m + '::'):
            edges[m].add(t)
TOP = '--top' in sys.argv
if TOP:
    top = {}
    for m, ts in edges.items():
        a = m.split('::')[0]
        top.setdefault(a, set())
        for t in ts:
            b = t.split('::')[0]
            if a != b and a and b: top[a].add(b)
    edges = top
# Tarjan
idx = {}; low = {}; st = []; on = set(); sccs = []; c = [0]
sys.setrecursionlimit(10000)
def sc(v):
    idx[v] = low[v] = c[0]; c[0] += 1; st.append(v); on.add(v)
    for w in edges[v]:
        if w not in idx: sc(w); low[v] = min(low[v], low[w])
        elif w in on: low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        if len(comp) > 1: sccs.append(sorted(comp))
for v in sorted(edges):
    if v not in idx: sc(v)
if '-v' in sys.argv:
    for m in sorted(edges): print(m or '<root>', '->', ', '.join(sorted(edges[m])))
print(('top-level: ' if TOP else 'file-level: ') + f'{len(edges)} modules, {sum(map(len, edges.values()))} edges, {len(sccs)} cycles (strongly connected groups)')
for s in sccs:
    print('  cycle:', ' , '.join(s))
    for a in s:
        print('     ', a, '->', ', '.join(sorted(x for x in edges[a] if x in s)))

bad = [(a, b) for a, allowed in ROOMS.items() for b in sorted(edges.get(a, ())) if b not in allowed] if TOP else []
for a, b in bad:
    print(f'  {a} imports {b}: a room it must not (ROOMS in .ci/module_cycles.py)')
if TOP and (sccs or bad):
    sys.exit(1)
