"""SIF weights a / (a + p(w)) (p from corpus counts, the tokenizer of
docs/language.md) on GloVe averages: Spearman x 100 on the dev set
sts12-train ("all"), with and without removing the first principal
component (of 20,000 corpus sentences).  Dev only, never the test sets."""
import numpy as np, re, collections, glob, sys
from scipy.stats import spearmanr
D='/work/shared/data'
def tok(s):
    out=[]
    for m in re.finditer(r'[A-Za-z0-9]+|\S', s):
        out.append(m.group(0).lower())
    return out
g={}
for line in open(D+'/text/glove.6B.50d.10k.txt',encoding='utf8'):
    p=line.rstrip('\n').split(' '); g[p[0]]=np.array(p[1:],dtype=np.float64)
cnt=collections.Counter(); tot=0
corpus=[l.rstrip('\n') for l in open(D+'/text/corpus.txt',encoding='utf8')]
for s in corpus:
    t=tok(s); cnt.update(t); tot+=len(t)
pairs=[]
for f in sorted(glob.glob(D+'/sts/sts12-train/*.tsv')):
    for l in open(f,encoding='utf8'):
        a=l.rstrip('\n').split('\t'); pairs.append((float(a[0]),a[1],a[2]))
def emb(s,a):
    ws=[w for w in tok(s) if w in g]
    if not ws: return np.zeros(50)
    if a is None: wt=[1.0]*len(ws)
    else: wt=[a/(a+cnt[w]/tot) for w in ws]
    return sum(w*g[x] for w,x in zip(wt,ws))/ (len(ws) if a is None else len(ws))
def score(a,pc=None):
    E1=np.array([emb(p[1],a) for p in pairs]); E2=np.array([emb(p[2],a) for p in pairs])
    if pc is not None:
        E1=E1-np.outer(E1@pc,pc); E2=E2-np.outer(E2@pc,pc)
    c=(E1*E2).sum(1)/np.maximum(np.linalg.norm(E1,axis=1)*np.linalg.norm(E2,axis=1),1e-30)
    return 100*spearmanr([p[0] for p in pairs],c).correlation
print('avg',score(None))
for a in [1.0,0.1,0.03,1e-2,3e-3,1e-3,3e-4,1e-4]:
    # pc from corpus sample
    rng=np.random.default_rng(0); idx=rng.choice(len(corpus),20000,replace=False)
    X=np.array([emb(corpus[i],a) for i in idx]); 
    u,s,vt=np.linalg.svd(X-0*X.mean(0),full_matrices=False); pc=vt[0]
    print('sif a',a,score(a),'pcr',score(a,pc))
