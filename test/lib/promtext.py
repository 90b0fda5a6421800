#!/usr/bin/env python3
"""test/lib/promtext.py PAGE [OUT]: check a page in Prometheus' text exposition
format (version 0.0.4) strictly, with nothing but the standard library.

Checks: every line is a HELP, TYPE or other comment, or a sample; names and
label names follow the grammar; label values use only the escapes \\\\, \\" and
\\n; values are floats as Prometheus reads them; the page ends with a newline;
a family's HELP and TYPE come at most once and before its samples, its
samples are together (no other family in between), no series twice; a
counter's name ends in _total and its values are >= 0; a histogram has per
label set a _bucket series with an le label, buckets in increasing le ending
with +Inf, counts that never decrease, a _count equal to the +Inf bucket and
a _sum; every family has HELP and TYPE (as promtool's lint wants).

Prints the problems and exits 1, or exits 0 and writes every sample, one per
line as NAME{LABELS-SORTED} VALUE, to OUT (for the checks to grep).
"""
import math
import re
import sys

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*'
NAME_RE = re.compile(NAME + r'$')
HELP_RE = re.compile(r'# HELP (' + NAME + r') ((?:[^\\\n]|\\\\|\\n)*)$')
TYPE_RE = re.compile(r'# TYPE (' + NAME + r') (counter|gauge|histogram|summary|untyped)$')
SAMPLE_RE = re.compile(r'(' + NAME + r')(\{[^\n]*\})? ([^ ]+)( -?[0-9]+)?$')
LABELS_RE = re.compile(r'\s*(' + LABEL + r')\s*=\s*"((?:[^"\\\n]|\\\\|\\"|\\n)*)"\s*(,|$)')
FLOAT_RE = re.compile(r'[+-]?(Inf|NaN|[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?|\.[0-9]+([eE][+-]?[0-9]+)?)$')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: {'\\': '\\', '"': '"', 'n': '\n'}[m.group(1)], v)


def parse_float(s):
    if not FLOAT_RE.match(s):
        raise ValueError(s)
    return float(s.replace('Inf', 'inf').replace('NaN', 'nan'))


def parse_labels(text):
    """'{a="b",c="d"}' -> [('a', 'b'), ...]; ValueError if malformed"""
    inner = text[1:-1]
    out = []
    pos = 0
    inner_s = inner.strip()
    if inner_s == '':
        return out
    while pos < len(inner):
        m = LABELS_RE.match(inner, pos)
        if not m:
            raise ValueError('bad label syntax at %r' % inner[pos:])
        out.append((m.group(1), unescape(m.group(2))))
        pos = m.end()
        if m.group(3) == '':
            break
        if inner[pos:].strip() == '':
            break  # a trailing comma is allowed
    if inner[pos:].strip() != '':
        raise ValueError('text after the labels: %r' % inner[pos:])
    names = [k for k, _ in out]
    if len(set(names)) != len(names):
        raise ValueError('a label name twice')
    return out


def family_of(name, types):
    """the family a sample belongs to (histogram/summary suffixes)"""
    for suffix in ('_bucket', '_sum', '_count'):
        if name.endswith(suffix):
            base = name[:-len(suffix)]
            if types.get(base) in ('histogram', 'summary') and (suffix != '_bucket' or types[base] == 'histogram'):
                return base
    return name


def check(text):
    problems = []
    types, helps = {}, {}
    seen_samples = set()
    done_families = set()
    current = None
    samples = []  # (family, name, labels(list), value)
    if not text.endswith('\n'):
        problems.append('the page does not end with a newline')
    lines = text.split('\n')
    if lines and lines[-1] == '':
        lines.pop()
    for no, line in enumerate(lines, 1):
        def bad(msg):
            problems.append('line %d: %s: %r' % (no, msg, line))
        if line.startswith('#'):
            if line.startswith('# HELP '):
                m = HELP_RE.match(line)
                if not m:
                    bad('malformed HELP')
                    continue
                fam = m.group(1)
                if fam in helps:
                    bad('second HELP for ' + fam)
                if fam in done_families or (current == fam and any(s[0] == fam for s in samples)):
                    bad('HELP after the samples of ' + fam)
                helps[fam] = m.group(2)
            elif line.startswith('# TYPE '):
                m = TYPE_RE.match(line)
                if not m:
                    bad('malformed TYPE')
                    continue
                fam = m.group(1)
                if fam in types:
                    bad('second TYPE for ' + fam)
                if fam in done_families or any(s[0] == fam for s in samples):
                    bad('TYPE after samples of ' + fam)
                types[fam] = m.group(2)
            else:
                continue  # another comment
            if current is not None and current != fam:
                done_families.add(current)
            current = fam
            continue
        if line.strip() == '':
            bad('empty line')
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            bad('not a sample')
            continue
        name, ltext, vtext = m.group(1), m.group(2) or '{}', m.group(3)
        try:
            labels = parse_labels(ltext)
        except ValueError as e:
            bad(str(e))
            continue
        try:
            value = parse_float(vtext)
        except ValueError:
            bad('value is not a float')
            continue
        fam = family_of(name, types)
        if fam in done_families:
            bad('samples of %s not together' % fam)
        if current is not None and current != fam:
            done_families.add(current)
        current = fam
        key = (name, tuple(sorted(labels)))
        if key in seen_samples:
            bad('series twice')
        seen_samples.add(key)
        samples.append((fam, name, labels, value))

    for fam in set(s[0] for s in samples) | set(types) | set(helps):
        if fam not in types:
            problems.append('%s: no TYPE' % fam)
        if fam not in helps:
            problems.append('%s: no HELP' % fam)
    for fam, t in types.items():
        fs = [s for s in samples if s[0] == fam]
        if t == 'counter':
            if not fam.endswith('_total'):
                problems.append('counter %s: name does not end in _total' % fam)
            for _, name, labels, v in fs:
                if name != fam or not (v >= 0):
                    problems.append('counter %s: bad sample %s %r = %r' % (fam, name, labels, v))
        elif t == 'gauge':
            for _, name, labels, v in fs:
                if name != fam:
                    problems.append('gauge %s: sample named %s' % (fam, name))
        elif t == 'histogram':
            groups = {}
            for _, name, labels, v in fs:
                rest = tuple(sorted((k, x) for k, x in labels if not (name == fam + '_bucket' and k == 'le')))
                g = groups.setdefault(rest, {'buckets': [], 'sum': None, 'count': None})
                if name == fam + '_bucket':
                    le = [x for k, x in labels if k == 'le']
                    if len(le) != 1:
                        problems.append('histogram %s %r: a bucket without le' % (fam, rest))
                        continue
                    try:
                        g['buckets'].append((parse_float(le[0]), v))
                    except ValueError:
                        problems.append('histogram %s %r: le %r is not a float' % (fam, rest, le[0]))
                elif name == fam + '_sum':
                    g['sum'] = v
                elif name == fam + '_count':
                    g['count'] = v
                else:
                    problems.append('histogram %s: sample named %s' % (fam, name))
            for rest, g in groups.items():
                b = g['buckets']
                where = 'histogram %s %r' % (fam, rest)
                if not b or b[-1][0] != math.inf:
                    problems.append(where + ': no +Inf bucket last')
                if any(b[i][0] >= b[i + 1][0] for i in range(len(b) - 1)):
                    problems.append(where + ': le not increasing')
                if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                    problems.append(where + ': bucket counts decrease')
                if g['count'] is None or g['sum'] is None:
                    problems.append(where + ': no _count or _sum')
                elif b and g['count'] != b[-1][1]:
                    problems.append(where + ': _count %r != +Inf bucket %r' % (g['count'], b[-1][1]))
    return problems, samples


def canonical(name, labels, value):
    ls = ','.join('%s="%s"' % (k, v.replace('\\', '\\\\').replace('"', '\\"').replace('\n', '\\n'))
                  for k, v in sorted(labels))
    v = ('%d' % value) if value == int(value) and abs(value) < 1e15 else repr(value)
    return '%s{%s} %s' % (name, ls, v)


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], 'rb') as f:
        raw = f.read()
    try:
        text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
        print('not UTF-8: %s' % e)
        return 1
    problems, samples = check(text)
    for p in problems:
        print(p)
    if problems:
        return 1
    if len(sys.argv) == 3:
        with open(sys.argv[2], 'w') as f:
            for _, name, labels, v in samples:
                f.write(canonical(name, labels, v) + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
