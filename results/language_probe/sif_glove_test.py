"""The SIF-weighted GloVe average (the --teacher glove of train simcse,
a = 0.01) on the six STS test tasks, as batchsampler eval sts scores
them: STS12-16 "all" (one Spearman over a year's concatenated subsets),
SICK-R test, the average.  Float64; the tokenizer of docs/language.md.
The plain GloVe average (a = None) is printed too, as a check against
eval sts (41.24).  Run: /usr/bin/python3 results/language_probe/sif_glove_test.py"""
import collections, glob, re, sys
import numpy as np
from scipy.stats import spearmanr

D = sys.argv[1] if len(sys.argv) > 1 else '../shared/data'


def tok(s):
    return [m.group(0).lower() for m in re.finditer(r'[A-Za-z0-9]+|\S', s)]


g = {}
for line in open(D + '/text/glove.6B.50d.10k.txt', encoding='utf8'):
    p = line.rstrip('\n').split(' ')
    g[p[0]] = np.array(p[1:], dtype=np.float64)
cnt, tot = collections.Counter(), 0
for s in open(D + '/text/corpus.txt', encoding='utf8'):
    t = tok(s.rstrip('\n'))
    cnt.update(t)
    tot += len(t) + 1  # [CLS] counted once a sentence, as the trainer does


def tasks():
    for y in ['sts12', 'sts13', 'sts14', 'sts15', 'sts16']:
        pairs = []
        for f in sorted(glob.glob(f'{D}/sts/{y}/*.tsv')):
            for l in open(f, encoding='utf8'):
                a = l.rstrip('\r\n').split('\t')
                pairs.append((float(a[0]), a[1], a[2]))
        yield y, pairs
    pairs = []
    for i, l in enumerate(open(D + '/sts/sick/SICK_test_annotated.txt', encoding='utf8')):
        if i:
            a = l.rstrip('\r\n').split('\t')
            pairs.append((float(a[3]), a[1], a[2]))
    yield 'sickr', pairs


def emb(s, a):
    ws = [w for w in tok(s) if w in g]
    if not ws:
        return np.zeros(50)
    wt = [1.0 if a is None else a / (a + cnt[w] / tot) for w in ws]
    return sum(w * g[x] for w, x in zip(wt, ws))


def score(pairs, a):
    e1 = np.array([emb(p[1], a) for p in pairs])
    e2 = np.array([emb(p[2], a) for p in pairs])
    n = np.linalg.norm(e1, axis=1) * np.linalg.norm(e2, axis=1)
    c = np.where(n > 0, (e1 * e2).sum(1) / np.maximum(n, 1e-300), 0.0)
    return 100 * spearmanr([p[0] for p in pairs], c).correlation


T = list(tasks())
for name, a in [('GloVe average', None), ('SIF GloVe average a=0.01', 0.01)]:
    r = [score(p, a) for _, p in T]
    print(f'{name:26s}', ' '.join(f'{x:6.2f}' for x in r), f'avg {np.mean(r):6.2f}')
