/*
 * _batchsampler.c — CPython extension over the public header batchsampler.h.
 *
 * A thin layer: three types (Graph, Sampler, Batcher) and a few functions.
 * The Python package batchsampler/__init__.py builds the user-facing API
 * (BatchSampler over Batcher, ProximityGraph, batch_stats) on top of it.
 *
 * Arrays come in through the buffer protocol (numpy arrays, memoryviews,
 * array.array, bytes ...), so building needs no numpy headers.  They must be
 * C-contiguous; dtypes are checked from the buffer's format string.
 *
 * Errors: a wrong Python type or dtype is TypeError; a bad shape, layout,
 * value or parameter is ValueError carrying the library's message; I/O
 * failures are OSError; allocation failures MemoryError.
 *
 * Threads: the GIL is released around graph builds, sampling and file I/O.
 * Each object carries a `busy` flag, set and tested with the GIL held, so
 * that a second thread using the same object while the GIL is released gets
 * a RuntimeError instead of a data race.
 *
 * No static mutable state except the type objects, as CPython requires.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batchsampler.h"

/* Python 3.9 lacks these two (3.10 API). */
#if PY_VERSION_HEX < 0x030A0000
static PyObject *bs_py_newref(PyObject *o)
{
    Py_INCREF(o);
    return o;
}
#define Py_NewRef(o) bs_py_newref((PyObject *)(o))
static int bs_py_add_ref(PyObject *m, const char *name, PyObject *v)
{
    Py_INCREF(v);
    if (PyModule_AddObject(m, name, v) < 0) {
        Py_DECREF(v);
        return -1;
    }
    return 0;
}
#define PyModule_AddObjectRef bs_py_add_ref
#endif

/* Cast for METH_VARARGS | METH_KEYWORDS functions without -Wcast-function-type.
 */
#define BS_KWFUNC(f) ((PyCFunction)(void (*)(void))(f))

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* Raises the Python exception matching a library error; returns NULL. */
static PyObject *raise_bs(const bs_error *e)
{
    PyObject *type;
    switch (e->code) {
    case BS_ERR_NOMEM: return PyErr_NoMemory();
    case BS_ERR_IO: type = PyExc_OSError; break;
    case BS_ERR_UNSUPPORTED: type = PyExc_TypeError; break;
    case BS_ERR_CANCELLED:
        /* the progress callback left KeyboardInterrupt (or another
           exception from a signal handler) set */
        if (PyErr_Occurred())
            return NULL;
        type = PyExc_KeyboardInterrupt;
        break;
    case BS_ERR_STATE:
    case BS_ERR_INVALID_ARG:
    case BS_ERR_FORMAT:
    case BS_ERR_DATA:
    default: type = PyExc_ValueError; break;
    }
    /* The library's messages name CLI flags in one place: say it the
       Python way. */
    static const char cli_flag[] = "--mode exact", py_arg[] = "mode=\"exact\"";
    const char *flag = strstr(e->msg, cli_flag);
    if (flag) {
        char msg[sizeof e->msg + sizeof py_arg];
        snprintf(msg, sizeof msg, "%.*s%s%s", (int)(flag - e->msg), e->msg,
                 py_arg, flag + sizeof cli_flag - 1);
        PyErr_SetString(type, msg);
    } else if (e->msg[0])
        PyErr_SetString(type, e->msg);
    else
        PyErr_Format(type, "batchsampler: %s", bs_status_name(e->code));
    return NULL;
}

static void err_init(bs_error *e)
{
    e->code = BS_OK;
    e->msg[0] = '\0';
}

/* ------------------------------------------------------------------------ */
/* Buffers                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum { K_F32, K_F64, K_I32, K_I64, K_OTHER } elem_kind;

/* Classifies a buffer's struct-module format + itemsize.  Only native
   little-endian (x86-64, aarch64) layouts are accepted. */
static elem_kind buffer_kind(const Py_buffer *v)
{
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (f[0] == '\0' || f[1] != '\0')
        return K_OTHER;
    switch (f[0]) {
    case 'f': return v->itemsize == 4 ? K_F32 : K_OTHER;
    case 'd': return v->itemsize == 8 ? K_F64 : K_OTHER;
    case 'i':
    case 'l':
    case 'q':
        if (v->itemsize == 4)
            return K_I32;
        if (v->itemsize == 8)
            return K_I64;
        return K_OTHER;
    default: return K_OTHER;
    }
}

/* A dtype name for messages: numpy's name when the buffer's struct code
   is a single known one (float16 exports 'e'), else the code itself. */
static const char *kind_name(const Py_buffer *v)
{
    switch (buffer_kind(v)) {
    case K_F32: return "float32";
    case K_F64: return "float64";
    case K_I32: return "int32";
    case K_I64: return "int64";
    default: break;
    }
    const char *f = v->format ? v->format : "B";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (f[0] == '\0' || f[1] != '\0')
        return v->format ? v->format : "bytes";
    switch (f[0]) {
    case 'e': return "float16";
    case 'f': return "float32";
    case 'd': return "float64";
    case 'g': return "longdouble";
    case '?': return "bool";
    case 'b': return "int8";
    case 'B': return "uint8";
    case 'h': return "int16";
    case 'H': return "uint16";
    case 'i':
    case 'l':
    case 'q': return v->itemsize == 2 ? "int16" : "int";
    case 'I':
    case 'L':
    case 'Q':
        switch (v->itemsize) {
        case 4: return "uint32";
        case 8: return "uint64";
        default: return "unsigned int";
        }
    default: return v->format;
    }
}

/*
 * Gets a read-only C-contiguous buffer of `ndim` dimensions (0 = any) from
 * obj.  A non-buffer object is TypeError; a non-contiguous one ValueError.
 * On success the caller must PyBuffer_Release(v).
 */
static int get_buffer(PyObject *obj, Py_buffer *v, int ndim, const char *what)
{
    if (!PyObject_CheckBuffer(obj)) {
        PyErr_Format(
            PyExc_TypeError,
            "%s: expected an array supporting the buffer protocol "
            "(numpy array, CPU torch tensor via .numpy(), memoryview), "
            "got %.100s",
            what, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (PyObject_GetBuffer(obj, v, PyBUF_RECORDS_RO) < 0) {
        /* e.g. an exporter that refuses a read-only request */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_Format(PyExc_ValueError, "%s: cannot get a buffer (%S)", what,
                     value ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return -1;
    }
    if (!PyBuffer_IsContiguous(v, 'C')) {
        PyErr_Format(PyExc_ValueError,
                     "%s: array is not C-contiguous (make a contiguous copy, "
                     "e.g. numpy.ascontiguousarray or tensor.contiguous())",
                     what);
        PyBuffer_Release(v);
        return -1;
    }
    if (ndim > 0 && v->ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected a %d-D array, got %d-D",
                     what, ndim, v->ndim);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

/* Float32 (n, d) matrix.  Wrong dtype is TypeError. */
static int get_matrix_f32(PyObject *obj, Py_buffer *v, int64_t *n, int64_t *d,
                          const char *what)
{
    if (get_buffer(obj, v, 0, what) < 0)
        return -1;
    if (buffer_kind(v) != K_F32) {
        PyErr_Format(PyExc_TypeError, "%s: expected dtype float32, got %s",
                     what, kind_name(v));
        PyBuffer_Release(v);
        return -1;
    }
    if (v->ndim != 2) {
        PyErr_Format(PyExc_ValueError,
                     "%s: expected a 2-D array (n, d), got %d-D", what,
                     v->ndim);
        PyBuffer_Release(v);
        return -1;
    }
    *n = (int64_t)v->shape[0];
    *d = (int64_t)v->shape[1];
    return 0;
}

/* Optional initial rows: None, or a float32 (n, d) matrix whose buffer v
   the caller releases when *init is set. */
static int get_init(PyObject *o, Py_buffer *v, int64_t n, int64_t d,
                    const float **init)
{
    *init = NULL;
    if (o == Py_None)
        return 0;
    int64_t in, id;
    if (get_matrix_f32(o, v, &in, &id, "init") < 0)
        return -1;
    if (in != n || id != d) {
        PyErr_Format(PyExc_ValueError,
                     "init: shape (%lld, %lld), expected (%lld, %lld)",
                     (long long)in, (long long)id, (long long)n, (long long)d);
        PyBuffer_Release(v);
        return -1;
    }
    *init = (const float *)v->buf;
    return 0;
}

/* An integer array seen as int64: int64 buffers in place, int32 ones
   converted into tmp. */
typedef struct {
    Py_buffer v;
    const int64_t *ids;
    int64_t *tmp; /* the int64 copy of an int32 array, or NULL */
    int64_t count;
    int held; /* v is to be released */
} ids_view;

static void ids_release(ids_view *iv)
{
    if (iv->held) {
        free(iv->tmp);
        PyBuffer_Release(&iv->v);
    }
    iv->held = 0;
    iv->tmp = NULL;
}

/*
 * An integer array (int64 or int32; floats etc. are TypeError): a vector
 * when ndim is 1, an (nb, b) array when it is 2 (its dimensions checked
 * first).  On success the caller must ids_release(iv).
 */
static int get_ids(PyObject *obj, ids_view *iv, int ndim, const char *what)
{
    iv->held = 0;
    iv->tmp = NULL;
    if (get_buffer(obj, &iv->v, ndim == 2 ? 2 : 0, what) < 0)
        return -1;
    iv->held = 1;
    elem_kind k = buffer_kind(&iv->v);
    if (k != K_I64 && k != K_I32) {
        PyErr_Format(PyExc_TypeError, "%s: expected an integer array%s, got %s",
                     what, ndim == 2 ? "" : " (int64 or int32)",
                     kind_name(&iv->v));
        ids_release(iv);
        return -1;
    }
    if (iv->v.ndim != ndim) {
        PyErr_Format(PyExc_ValueError, "%s: expected a %d-D array, got %d-D",
                     what, ndim, iv->v.ndim);
        ids_release(iv);
        return -1;
    }
    iv->count = (int64_t)(iv->v.len / iv->v.itemsize);
    if (k == K_I64) {
        iv->ids = (const int64_t *)iv->v.buf;
        return 0;
    }
    iv->tmp = malloc((size_t)(iv->count > 0 ? iv->count : 1) * sizeof *iv->tmp);
    if (!iv->tmp) {
        ids_release(iv);
        PyErr_NoMemory();
        return -1;
    }
    const int32_t *src = (const int32_t *)iv->v.buf;
    for (int64_t i = 0; i < iv->count; i++)
        iv->tmp[i] = src[i];
    iv->ids = iv->tmp;
    return 0;
}

static int parse_mode(const char *s, bs_graph_mode *m)
{
    bs_error e;
    err_init(&e);
    if (bs_graph_mode_parse(s, m, &e) != BS_OK) {
        raise_bs(&e);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Progress callback: lets Ctrl-C interrupt a long build                     */
/* ------------------------------------------------------------------------ */

/* Called with the GIL released, from the thread that released it. */
static int progress_check_signals(void *ctx, int64_t done, int64_t total)
{
    (void)ctx;
    (void)done;
    (void)total;
    PyGILState_STATE st = PyGILState_Ensure();
    int stop = PyErr_CheckSignals() < 0; /* leaves the exception set */
    PyGILState_Release(st);
    return stop;
}

/* ------------------------------------------------------------------------ */
/* Graph                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD bs_graph *g; /* immutable once created: read concurrently */
} GraphObject;

static PyTypeObject Graph_Type;

static PyObject *graph_wrap(bs_graph *g)
{
    GraphObject *o = PyObject_New(GraphObject, &Graph_Type);
    if (!o) {
        bs_graph_free(g);
        return NULL;
    }
    o->g = g;
    return (PyObject *)o;
}

static void Graph_dealloc(GraphObject *self)
{
    bs_graph_free(self->g);
    self->g = NULL;
    PyObject_Free(self);
}

static PyObject *Graph_new(PyTypeObject *t, PyObject *a, PyObject *k)
{
    (void)t;
    (void)a;
    (void)k;
    PyErr_SetString(PyExc_TypeError,
                    "Graph cannot be created directly: use Graph.build, "
                    "Graph.load or Graph.from_arrays");
    return NULL;
}

static int fill_graph_params(bs_graph_params *p, long long m, int k,
                             const char *mode, unsigned long long seed,
                             int block, int threads)
{
    bs_graph_params_default(p);
    if (parse_mode(mode, &p->mode) < 0)
        return -1;
    p->m = m;
    p->k = k;
    p->seed = seed;
    p->block = block;
    p->threads = threads;
    return 0;
}

/* Graph.build(x, m=1000, k=100, mode="shared", seed=0, block=0, threads=0) */
static PyObject *Graph_build(PyObject *cls, PyObject *args, PyObject *kw)
{
    (void)cls;
    static char *kwl[] = {"x",    "m",     "k",       "mode",
                          "seed", "block", "threads", NULL};
    PyObject *xo;
    long long m = 1000;
    int k = 100, block = 0, threads = 0;
    const char *mode = "shared";
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|LisKii:build", kwl, &xo, &m,
                                     &k, &mode, &seed, &block, &threads))
        return NULL;
    bs_graph_params p;
    if (fill_graph_params(&p, m, k, mode, seed, block, threads) < 0)
        return NULL;
    Py_buffer v;
    int64_t n, d;
    if (get_matrix_f32(xo, &v, &n, &d, "embeddings") < 0)
        return NULL;
    bs_error e;
    err_init(&e);
    bs_status st = bs_graph_params_check(&p, n, &e);
    if (st == BS_OK)
        st = bs_check_embeddings((const float *)v.buf, n, d, &e);
    bs_graph *g = NULL;
    if (st == BS_OK) {
        p.progress = progress_check_signals;
        Py_BEGIN_ALLOW_THREADS st =
            bs_graph_build((const float *)v.buf, n, d, &p, &g, &e);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&v);
    if (st != BS_OK)
        return raise_bs(&e);
    return graph_wrap(g);
}

/* A writable C-contiguous buffer of exactly `count` elements of `kind`. */
static int get_out(PyObject *o, Py_buffer *v, elem_kind kind, int64_t count,
                   const char *what)
{
    if (PyObject_GetBuffer(o, v, PyBUF_RECORDS) < 0)
        return -1;
    if (!PyBuffer_IsContiguous(v, 'C') || buffer_kind(v) != kind ||
        v->len != (Py_ssize_t)(count * 4)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: expected a writable C-contiguous %s array of %lld "
                     "values, got %s, %zd bytes",
                     what, kind == K_I32 ? "int32" : "float32",
                     (long long)count, kind_name(v), v->len);
        PyBuffer_Release(v);
        return -1;
    }
    return 0;
}

/* build_rows(x, lo, hi, nbr, sim, m=1000, k=100, mode="shared", seed=0,
              block=0, threads=0): rows [lo, hi) of Graph.build(x, ...)
   into the writable (hi-lo, k) int32 nbr and float32 sim. */
static PyObject *mod_build_rows(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwl[] = {"x", "lo",   "hi",   "nbr",   "sim",     "m",
                          "k", "mode", "seed", "block", "threads", NULL};
    PyObject *xo, *nbro, *simo;
    long long lo, hi, m = 1000;
    int k = 100, block = 0, threads = 0;
    const char *mode = "shared";
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OLLOO|LisKii:build_rows", kwl,
                                     &xo, &lo, &hi, &nbro, &simo, &m, &k, &mode,
                                     &seed, &block, &threads))
        return NULL;
    bs_graph_params p;
    if (fill_graph_params(&p, m, k, mode, seed, block, threads) < 0)
        return NULL;
    Py_buffer v, nv, sv;
    int64_t n, d;
    if (get_matrix_f32(xo, &v, &n, &d, "embeddings") < 0)
        return NULL;
    int64_t rows = hi > lo ? hi - lo : 0;
    if (get_out(nbro, &nv, K_I32, rows * k, "nbr") < 0) {
        PyBuffer_Release(&v);
        return NULL;
    }
    if (get_out(simo, &sv, K_F32, rows * k, "sim") < 0) {
        PyBuffer_Release(&nv);
        PyBuffer_Release(&v);
        return NULL;
    }
    bs_error e;
    err_init(&e);
    bs_status st = bs_graph_params_check(&p, n, &e);
    if (st == BS_OK) {
        p.progress = progress_check_signals;
        Py_BEGIN_ALLOW_THREADS st =
            bs_graph_build_rows((const float *)v.buf, n, d, &p, lo, hi,
                                (int32_t *)nv.buf, (float *)sv.buf, &e);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&sv);
    PyBuffer_Release(&nv);
    PyBuffer_Release(&v);
    if (st != BS_OK)
        return raise_bs(&e);
    Py_RETURN_NONE;
}

static PyObject *Graph_load(PyObject *cls, PyObject *args)
{
    (void)cls;
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&:load", PyUnicode_FSConverter, &path))
        return NULL;
    bs_error e;
    err_init(&e);
    bs_graph *g = NULL;
    bs_status st;
    Py_BEGIN_ALLOW_THREADS st = bs_graph_load(PyBytes_AS_STRING(path), &g, &e);
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (st != BS_OK)
        return raise_bs(&e);
    return graph_wrap(g);
}

/* Graph.from_arrays(n, k, nbr, sim=None, mode="shared", m=0, seed=0,
                     block=0) */
static PyObject *Graph_from_arrays(PyObject *cls, PyObject *args, PyObject *kw)
{
    (void)cls;
    static char *kwl[] = {"n", "k",    "nbr",   "sim", "mode",
                          "m", "seed", "block", NULL};
    long long n, m = 0;
    int k, block = 0;
    PyObject *nbro, *simo = Py_None;
    const char *mode = "shared";
    unsigned long long seed = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "LiO|OsLKi:from_arrays", kwl, &n,
                                     &k, &nbro, &simo, &mode, &m, &seed,
                                     &block))
        return NULL;
    bs_graph_params p;
    if (fill_graph_params(&p, m, k, mode, seed, block, 0) < 0)
        return NULL;
    if (n < 1 || k < 1) {
        PyErr_Format(PyExc_ValueError,
                     "from_arrays: n = %lld, k = %d: expected n >= 1, k >= 1",
                     n, k);
        return NULL;
    }
    /* The parameters are recorded, not used: still refuse what no build
       could have had (M = 0 and block = 0 mean "not known"). */
    if (m < 0 || (m > 0 && p.mode != BS_MODE_EXACT && (m < k || m >= n))) {
        PyErr_Format(PyExc_ValueError,
                     "from_arrays: M = %lld with n = %lld, K = %d: expected "
                     "K <= M < n, or 0 when not known",
                     m, n, k);
        return NULL;
    }
    if (block < 0) {
        PyErr_Format(PyExc_ValueError,
                     "from_arrays: block = %d: expected >= 0 (0 = default)",
                     block);
        return NULL;
    }
    Py_buffer nv, sv;
    if (get_buffer(nbro, &nv, 0, "nbr") < 0)
        return NULL;
    if (buffer_kind(&nv) != K_I32) {
        PyErr_Format(PyExc_TypeError, "nbr: expected dtype int32, got %s",
                     kind_name(&nv));
        PyBuffer_Release(&nv);
        return NULL;
    }
    if (nv.len / 4 != (Py_ssize_t)(n * k)) {
        PyErr_Format(PyExc_ValueError, "nbr: %zd elements, expected n*k = %lld",
                     nv.len / 4, n * (long long)k);
        PyBuffer_Release(&nv);
        return NULL;
    }
    const float *sim = NULL;
    int have_sim = simo != Py_None;
    if (have_sim) {
        if (get_buffer(simo, &sv, 0, "sim") < 0) {
            PyBuffer_Release(&nv);
            return NULL;
        }
        if (buffer_kind(&sv) != K_F32 || sv.len / 4 != (Py_ssize_t)(n * k)) {
            PyErr_Format(
                buffer_kind(&sv) != K_F32 ? PyExc_TypeError : PyExc_ValueError,
                "sim: expected n*k = %lld float32 values, got %zd "
                "of %s",
                n * (long long)k, sv.len / sv.itemsize, kind_name(&sv));
            PyBuffer_Release(&sv);
            PyBuffer_Release(&nv);
            return NULL;
        }
        sim = (const float *)sv.buf;
        /* what bs_graph_load would refuse (NaN fails the test too) */
        for (long long i = 0; i < n * (long long)k; i++) {
            if (!(sim[i] >= -1.0001f && sim[i] <= 1.0001f)) {
                char val[32];
                snprintf(val, sizeof val, "%g", (double)sim[i]);
                PyErr_Format(PyExc_ValueError,
                             "sim: row %lld similarity %lld is %s: expected "
                             "a finite cosine in [-1.0001, 1.0001]",
                             i / k, i % k, val);
                PyBuffer_Release(&sv);
                PyBuffer_Release(&nv);
                return NULL;
            }
        }
    }
    bs_error e;
    err_init(&e);
    bs_graph *g = NULL;
    bs_status st =
        bs_graph_from_arrays(n, k, (const int32_t *)nv.buf, sim, &p, &g, &e);
    if (have_sim)
        PyBuffer_Release(&sv);
    PyBuffer_Release(&nv);
    if (st != BS_OK)
        return raise_bs(&e);
    return graph_wrap(g);
}

static PyObject *Graph_save(GraphObject *self, PyObject *args)
{
    PyObject *path;
    if (!PyArg_ParseTuple(args, "O&:save", PyUnicode_FSConverter, &path))
        return NULL;
    bs_error e;
    err_init(&e);
    bs_status st;
    Py_BEGIN_ALLOW_THREADS st =
        bs_graph_save(self->g, PyBytes_AS_STRING(path), &e);
    Py_END_ALLOW_THREADS Py_DECREF(path);
    if (st != BS_OK)
        return raise_bs(&e);
    Py_RETURN_NONE;
}

/* (a, b) from two new references, which it steals; NULL if either is. */
static PyObject *pair_steal(PyObject *a, PyObject *b)
{
    PyObject *t = a && b ? PyTuple_Pack(2, a, b) : NULL;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return t;
}

/* Copies the n*k neighbours and similarities of g into nbr and sim. */
static void graph_rows(const bs_graph *g, int32_t *nbr, float *sim)
{
    int64_t n = bs_graph_n(g);
    size_t k = (size_t)bs_graph_k(g);
    for (int64_t i = 0; i < n; i++) {
        memcpy(nbr + (size_t)i * k, bs_graph_neighbors(g, i), k * sizeof *nbr);
        memcpy(sim + (size_t)i * k, bs_graph_similarities(g, i),
               k * sizeof *sim);
    }
}

/* neighbors(i) -> (bytes of k int32 ids, bytes of k float32 sims) */
static PyObject *Graph_neighbors(GraphObject *self, PyObject *arg)
{
    long long i = PyLong_AsLongLong(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    int64_t n = bs_graph_n(self->g);
    if (i < 0)
        i += n;
    const int32_t *ids = bs_graph_neighbors(self->g, i);
    const float *sims = bs_graph_similarities(self->g, i);
    if (!ids || !sims) {
        PyErr_Format(PyExc_IndexError, "node %lld out of range [0, %lld)",
                     PyLong_AsLongLong(arg), (long long)n);
        return NULL;
    }
    Py_ssize_t k = bs_graph_k(self->g);
    PyObject *a = PyBytes_FromStringAndSize((const char *)ids, k * 4);
    return pair_steal(
        a, a ? PyBytes_FromStringAndSize((const char *)sims, k * 4) : NULL);
}

/* to_arrays() -> (bytes n*k int32 ids, bytes n*k float32 sims) */
static PyObject *Graph_to_arrays(GraphObject *self, PyObject *noargs)
{
    (void)noargs;
    Py_ssize_t bytes =
        (Py_ssize_t)bs_graph_n(self->g) * bs_graph_k(self->g) * 4;
    PyObject *a = PyBytes_FromStringAndSize(NULL, bytes);
    PyObject *b = a ? PyBytes_FromStringAndSize(NULL, bytes) : NULL;
    if (b)
        graph_rows(self->g, (int32_t *)PyBytes_AS_STRING(a),
                   (float *)PyBytes_AS_STRING(b));
    return pair_steal(a, b);
}

static PyObject *Graph_get_n(GraphObject *self, void *c)
{
    (void)c;
    return PyLong_FromLongLong(bs_graph_n(self->g));
}

static PyObject *Graph_get_k(GraphObject *self, void *c)
{
    (void)c;
    return PyLong_FromLong(bs_graph_k(self->g));
}

static PyObject *Graph_get_params(GraphObject *self, void *c)
{
    (void)c;
    bs_graph_params p;
    bs_graph_get_params(self->g, &p);
    const char *mode = bs_graph_mode_name(p.mode);
    return Py_BuildValue("{s:s,s:L,s:i,s:K,s:i}", "mode", mode ? mode : "?",
                         "m", (long long)p.m, "k", (int)p.k, "seed",
                         (unsigned long long)p.seed, "block", (int)p.block);
}

static PyMethodDef Graph_methods[] = {
    {"build", BS_KWFUNC(Graph_build), METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "build(x, m=1000, k=100, mode='shared', seed=0, block=0, threads=0)\n"
     "Builds the proximity graph of a float32 (n, d) C-contiguous array."},
    {"load", (PyCFunction)Graph_load, METH_VARARGS | METH_CLASS,
     "load(path): reads a .bsg file."},
    {"from_arrays", BS_KWFUNC(Graph_from_arrays),
     METH_VARARGS | METH_KEYWORDS | METH_CLASS,
     "from_arrays(n, k, nbr, sim=None, mode='shared', m=0, seed=0, block=0)"},
    {"save", (PyCFunction)Graph_save, METH_VARARGS,
     "save(path): writes a .bsg file atomically."},
    {"neighbors", (PyCFunction)Graph_neighbors, METH_O,
     "neighbors(i) -> (ids bytes int32[k], sims bytes float32[k])"},
    {"to_arrays", (PyCFunction)Graph_to_arrays, METH_NOARGS,
     "to_arrays() -> (ids bytes int32[n*k], sims bytes float32[n*k])"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Graph_getset[] = {
    {"n", (getter)Graph_get_n, NULL, "number of nodes", NULL},
    {"k", (getter)Graph_get_k, NULL, "neighbours per node", NULL},
    {"params", (getter)Graph_get_params, NULL, "build parameters (dict)", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject Graph_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "batchsampler._batchsampler.Graph",
    .tp_basicsize = sizeof(GraphObject),
    .tp_dealloc = (destructor)Graph_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A proximity graph (immutable).",
    .tp_methods = Graph_methods,
    .tp_getset = Graph_getset,
    .tp_new = Graph_new,
};

/* ------------------------------------------------------------------------ */
/* Shared by Sampler and Batcher                                             */
/* ------------------------------------------------------------------------ */

/*
 * Both objects begin with a SourceObject (a source of batches): one set of
 * methods (next, set_epoch, save_state, load_state) and constructor helpers
 * serve both, and what differs, the library calls and how their failures
 * are raised, is in each type's source_ops table.
 */
typedef struct SourceObject SourceObject;

/* One library call of a Sampler or Batcher method. */
typedef struct {
    enum { CALL_NEXT, CALL_SET_EPOCH, CALL_SAVE_STATE, CALL_LOAD_STATE } op;
    int64_t arg;   /* set_epoch: the epoch; save_state: the position */
    int64_t count; /* next: ids written into the object's buf */
    void *blob;    /* save_state: malloc'ed (the caller frees it); load_state */
    size_t len;
} source_call;

typedef struct {
    const char *name; /* "Sampler" or "Batcher", in messages */
    /* Makes the call c, without the GIL. */
    bs_status (*call)(SourceObject *o, source_call *c, bs_error *e);
    /* Raises a failed call (GIL held), or NULL: raise_bs. */
    PyObject *(*raise)(SourceObject *o, const bs_error *e);
    /* Called with the GIL after load_state's library call, or NULL. */
    void (*after_load)(SourceObject *o);
} source_ops;

struct SourceObject {
    PyObject_HEAD const source_ops *ops;
    int64_t *buf; /* batch_size ids */
    int64_t bsz;  /* batch_size */
    int busy;
};

/* The arguments of Sampler() and Batcher() that make the sampler. */
typedef struct {
    long long n, b, max_steps, bpe;
    const char *kind, *schedule, *epoch_mode;
    double alpha, tau;
    int drop_last, rank, world;
    unsigned long long seed;
} sampler_args;

#define SAMPLER_ARGS_DEFAULT                                                   \
    {                                                                          \
        .kind = "rwr", .schedule = "constant", .epoch_mode = "fixed",          \
        .alpha = 0.2, .world = 1                                               \
    }

/* "name = v: expected >= 1" unless v >= 1. */
static int check_positive(const char *name, long long v)
{
    if (v < 1) {
        PyErr_Format(PyExc_ValueError, "%s = %lld: expected >= 1", name, v);
        return -1;
    }
    return 0;
}

/* Sets p's sampler fields from a (p already defaulted): the names are
   parsed here (ValueError), the values are the library's to check. */
static int fill_sampler_params(bs_sampler_params *p, const sampler_args *a)
{
    bs_error e;
    err_init(&e);
    if (bs_sampler_kind_parse(a->kind, &p->kind, &e) != BS_OK ||
        bs_alpha_schedule_parse(a->schedule, &p->schedule, &e) != BS_OK ||
        bs_epoch_mode_parse(a->epoch_mode, &p->epoch_mode, &e) != BS_OK) {
        raise_bs(&e);
        return -1;
    }
    p->batch_size = a->b;
    p->alpha = a->alpha;
    p->tau = a->tau;
    p->max_steps = a->max_steps;
    p->batches_per_epoch = a->bpe;
    p->drop_last = a->drop_last;
    p->rank = a->rank;
    p->world = a->world;
    p->seed = a->seed;
    return 0;
}

/* The head of a new object: its ops and a buffer of bsz ids. */
static int source_init(SourceObject *o, const source_ops *ops, int64_t bsz)
{
    o->ops = ops;
    o->bsz = bsz;
    o->buf = malloc((size_t)bsz * sizeof *o->buf);
    if (!o->buf) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* The end of a dealloc, once the type's own fields are released. */
static void source_free(SourceObject *o)
{
    free(o->buf);
    Py_TYPE(o)->tp_free((PyObject *)o);
}

/* Marks o busy: RuntimeError if another thread is in one of its calls. */
static int source_enter(SourceObject *o)
{
    if (o->busy) {
        PyErr_Format(PyExc_RuntimeError,
                     "%s is in use by another thread: use one object per "
                     "thread",
                     o->ops->name);
        return -1;
    }
    o->busy = 1;
    return 0;
}

/* Makes the call c without the GIL, with o marked busy.  Returns 0, or -1
   with the exception set: RuntimeError if o is busy, else the call's. */
static int source_run(SourceObject *o, source_call *c)
{
    if (source_enter(o) < 0)
        return -1;
    bs_error e;
    err_init(&e);
    bs_status st;
    Py_BEGIN_ALLOW_THREADS st = o->ops->call(o, c, &e);
    Py_END_ALLOW_THREADS o->busy = 0;
    if (c->op == CALL_LOAD_STATE && o->ops->after_load)
        o->ops->after_load(o);
    if (st == BS_OK)
        return 0;
    if (o->ops->raise)
        o->ops->raise(o, &e);
    else
        raise_bs(&e);
    return -1;
}

/* A list of ints from ids[0..count). */
static PyObject *ids_list(const int64_t *ids, int64_t count)
{
    PyObject *list = PyList_New((Py_ssize_t)count);
    if (!list)
        return NULL;
    for (int64_t i = 0; i < count; i++) {
        PyObject *v = PyLong_FromLongLong(ids[i]);
        if (!v) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, v);
    }
    return list;
}

/* next() -> list of batch_size ints, or None at the end of an epoch */
static PyObject *Source_next(SourceObject *self, PyObject *noargs)
{
    (void)noargs;
    source_call c = {.op = CALL_NEXT};
    /* a batcher may build a graph or wait for the background rebuild */
    if (source_run(self, &c) < 0)
        return NULL;
    if (c.count == 0)
        Py_RETURN_NONE;
    if (c.count < 0 || c.count > self->bsz) {
        PyErr_Format(PyExc_SystemError, "sampler returned %lld ids (B = %lld)",
                     (long long)c.count, (long long)self->bsz);
        return NULL;
    }
    return ids_list(self->buf, c.count);
}

/* set_epoch(e) */
static PyObject *Source_set_epoch(SourceObject *self, PyObject *arg)
{
    source_call c = {.op = CALL_SET_EPOCH, .arg = PyLong_AsLongLong(arg)};
    if ((c.arg == -1 && PyErr_Occurred()) || source_run(self, &c) < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* save_state() -> bytes, at position `at` (a batcher's; -1 = current) */
static PyObject *source_save_state(SourceObject *self, int64_t at)
{
    source_call c = {.op = CALL_SAVE_STATE, .arg = at};
    if (source_run(self, &c) < 0)
        return NULL;
    PyObject *out = PyBytes_FromStringAndSize(c.blob, (Py_ssize_t)c.len);
    free(c.blob);
    return out;
}

/* load_state(blob): restores a save_state() blob */
static PyObject *Source_load_state(SourceObject *self, PyObject *arg)
{
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_SIMPLE) < 0)
        return NULL;
    source_call c = {
        .op = CALL_LOAD_STATE, .blob = v.buf, .len = (size_t)v.len};
    int r = source_run(self, &c);
    PyBuffer_Release(&v);
    if (r < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The alpha in force of s, or None without a sampler. */
static PyObject *alpha_or_none(const bs_sampler *s)
{
    if (!s)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(bs_sampler_alpha(s));
}

/* An int getter Type_get_name of Sampler or Batcher: expr of self. */
#define INT_GETTER(Type, name, expr)                                           \
    static PyObject *Type##_get_##name(Type##Object *self, void *c)            \
    {                                                                          \
        (void)c;                                                               \
        return PyLong_FromLongLong((long long)(expr));                         \
    }

/* ------------------------------------------------------------------------ */
/* Sampler                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct {
    SourceObject head;
    bs_sampler *s;
    PyObject *graph; /* GraphObject or NULL: kept alive for the sampler */
} SamplerObject;

static PyTypeObject Sampler_Type;

static void Sampler_dealloc(SamplerObject *self)
{
    bs_sampler_free(self->s); /* before the graph it references */
    self->s = NULL;
    Py_CLEAR(self->graph);
    source_free(&self->head);
}

/* A save_state blob of s, malloc'ed. */
static bs_status sampler_save(const bs_sampler *s, void **blob, size_t *len,
                              bs_error *e)
{
    bs_status st = bs_sampler_save_state(s, NULL, 0, len, e);
    if (st != BS_OK)
        return st;
    *blob = malloc(*len > 0 ? *len : 1);
    if (!*blob)
        return e->code = BS_ERR_NOMEM;
    st = bs_sampler_save_state(s, *blob, *len, len, e);
    if (st != BS_OK) {
        free(*blob);
        *blob = NULL;
    }
    return st;
}

static bs_status sampler_call(SourceObject *o, source_call *c, bs_error *e)
{
    bs_sampler *s = ((SamplerObject *)o)->s;
    switch (c->op) {
    case CALL_NEXT: return bs_sampler_next(s, o->buf, &c->count, e);
    case CALL_SET_EPOCH: return bs_sampler_set_epoch(s, c->arg, e);
    case CALL_SAVE_STATE: return sampler_save(s, &c->blob, &c->len, e);
    case CALL_LOAD_STATE: break;
    }
    return bs_sampler_load_state(s, c->blob, c->len, e);
}

static const source_ops sampler_ops = {.name = "Sampler", .call = sampler_call};

/*
 * Sampler(n, batch_size, kind="rwr", graph=None, alpha=0.2,
 *         schedule="constant", tau=0.0, max_steps=0, batches_per_epoch=0,
 *         drop_last=False, rank=0, world=1, seed=0, epoch_mode="fixed")
 */
static PyObject *Sampler_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwl[] = {"n",         "batch_size", "kind",
                          "graph",     "alpha",      "schedule",
                          "tau",       "max_steps",  "batches_per_epoch",
                          "drop_last", "rank",       "world",
                          "seed",      "epoch_mode", NULL};
    sampler_args a = SAMPLER_ARGS_DEFAULT;
    PyObject *grapho = Py_None;
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "LL|sOdsdLLpiiKs:Sampler", kwl, &a.n, &a.b, &a.kind,
            &grapho, &a.alpha, &a.schedule, &a.tau, &a.max_steps, &a.bpe,
            &a.drop_last, &a.rank, &a.world, &a.seed, &a.epoch_mode))
        return NULL;
    bs_sampler_params p;
    bs_sampler_params_default(&p);
    if (fill_sampler_params(&p, &a) < 0)
        return NULL;
    if (grapho != Py_None && !PyObject_TypeCheck(grapho, &Graph_Type)) {
        PyErr_Format(PyExc_TypeError,
                     "graph: expected a Graph or None, got "
                     "%.100s",
                     Py_TYPE(grapho)->tp_name);
        return NULL;
    }
    if (check_positive("batch_size", a.b) < 0)
        return NULL;

    SamplerObject *self = (SamplerObject *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    if (source_init(&self->head, &sampler_ops, a.b) < 0) {
        Py_DECREF(self);
        return NULL;
    }
    const bs_graph *g = grapho == Py_None ? NULL : ((GraphObject *)grapho)->g;
    bs_error e;
    err_init(&e);
    if (bs_sampler_create(&p, a.n, g, &self->s, &e) != BS_OK) {
        Py_DECREF(self);
        return raise_bs(&e);
    }
    if (grapho != Py_None) {
        Py_INCREF(grapho);
        self->graph = grapho;
    }
    return (PyObject *)self;
}

static PyObject *Sampler_set_graph(SamplerObject *self, PyObject *arg)
{
    if (!PyObject_TypeCheck(arg, &Graph_Type)) {
        PyErr_Format(PyExc_TypeError, "set_graph: expected a Graph, got %.100s",
                     Py_TYPE(arg)->tp_name);
        return NULL;
    }
    if (source_enter(&self->head) < 0)
        return NULL;
    bs_error e;
    err_init(&e);
    bs_status st = bs_sampler_set_graph(self->s, ((GraphObject *)arg)->g, &e);
    self->head.busy = 0;
    if (st != BS_OK)
        return raise_bs(&e);
    Py_INCREF(arg);
    Py_XSETREF(self->graph, arg);
    Py_RETURN_NONE;
}

static PyObject *Sampler_save_state(SamplerObject *self, PyObject *noargs)
{
    (void)noargs;
    return source_save_state(&self->head, -1);
}

INT_GETTER(Sampler, epoch, bs_sampler_epoch(self->s))
INT_GETTER(Sampler, batch_index, bs_sampler_batch_index(self->s))
INT_GETTER(Sampler, epoch_length, bs_sampler_epoch_length(self->s))
INT_GETTER(Sampler, covered, bs_sampler_covered(self->s))
INT_GETTER(Sampler, steps, bs_sampler_steps(self->s))

static PyObject *Sampler_get_alpha(SamplerObject *self, void *c)
{
    (void)c;
    return alpha_or_none(self->s);
}

static PyObject *Sampler_get_graph(SamplerObject *self, void *c)
{
    (void)c;
    PyObject *g = self->graph ? self->graph : Py_None;
    Py_INCREF(g);
    return g;
}

static PyMethodDef Sampler_methods[] = {
    {"next", (PyCFunction)Source_next, METH_NOARGS,
     "next() -> list of batch_size ids, or None at the end of an epoch"},
    {"set_epoch", (PyCFunction)Source_set_epoch, METH_O,
     "set_epoch(e): restart at the beginning of epoch e"},
    {"set_graph", (PyCFunction)Sampler_set_graph, METH_O,
     "set_graph(g): replace the graph, keeping coverage and position"},
    {"save_state", (PyCFunction)Sampler_save_state, METH_NOARGS,
     "save_state() -> bytes"},
    {"load_state", (PyCFunction)Source_load_state, METH_O, "load_state(blob)"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Sampler_getset[] = {
    {"epoch", (getter)Sampler_get_epoch, NULL, "current epoch", NULL},
    {"batch_index", (getter)Sampler_get_batch_index, NULL,
     "batches yielded in the current epoch", NULL},
    {"epoch_length", (getter)Sampler_get_epoch_length, NULL,
     "batches per epoch, or -1 if not known in advance", NULL},
    {"covered", (getter)Sampler_get_covered, NULL,
     "instances covered in the current epoch", NULL},
    {"steps", (getter)Sampler_get_steps, NULL, "walk steps so far", NULL},
    {"alpha", (getter)Sampler_get_alpha, NULL, "alpha in force", NULL},
    {"graph", (getter)Sampler_get_graph, NULL, "the graph in use or None",
     NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject Sampler_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name =
        "batchsampler._batchsampler.Sampler",
    .tp_basicsize = sizeof(SamplerObject),
    .tp_dealloc = (destructor)Sampler_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Sampler(n, batch_size, kind='rwr', graph=None, alpha=0.2, "
              "schedule='constant', tau=0.0, max_steps=0, "
              "batches_per_epoch=0, drop_last=False, rank=0, world=1, seed=0, "
              "epoch_mode='fixed')",
    .tp_methods = Sampler_methods,
    .tp_getset = Sampler_getset,
    .tp_new = Sampler_new,
};

/* ------------------------------------------------------------------------ */
/* Batcher: the whole policy (bs_batcher)                                    */
/* ------------------------------------------------------------------------ */

typedef struct {
    SourceObject head;
    bs_batcher *b;
    int64_t n, dim;
    /* A Graph copy of the graph in force, reused while (graph pointer,
       builds) is unchanged: a new graph is always allocated while the old
       one is alive, and at most one install happens per value of builds. */
    PyObject *graph_copy;
    const bs_graph *graph_key;
    int64_t graph_builds_key;
    /* builder(x, n, d, params) -> (nbr, sim), or NULL: see py_build */
    PyObject *builder;
    PyObject *build_exc; /* the builder's last exception, raised by next() */
} BatcherObject;

static PyTypeObject Batcher_Type;

static void Batcher_dealloc(BatcherObject *self)
{
    if (self->b) {
        bs_batcher *b = self->b;
        self->b = NULL;
        /* waits for a rebuild in flight: let other threads run meanwhile */
        Py_BEGIN_ALLOW_THREADS bs_batcher_free(b);
        Py_END_ALLOW_THREADS
    }
    Py_CLEAR(self->graph_copy);
    Py_CLEAR(self->builder);
    Py_CLEAR(self->build_exc);
    source_free(&self->head);
}

/* The graph parameters as the dict Graph.params gives. */
static PyObject *graph_params_dict(const bs_graph_params *p)
{
    return Py_BuildValue("{s:s,s:L,s:i,s:K,s:i,s:i}", "mode",
                         bs_graph_mode_name(p->mode), "m", (long long)p->m, "k",
                         (int)p->k, "seed", (unsigned long long)p->seed,
                         "block", (int)p->block, "threads", (int)p->threads);
}

/* Builder's result: (nbr, sim), n*k int32 and float32 values. */
static bs_status graph_of_result(PyObject *res, int64_t n,
                                 const bs_graph_params *p, bs_graph **out,
                                 bs_error *err)
{
    PyObject *nbro, *simo;
    Py_buffer nv, sv;
    if (!PyArg_ParseTuple(res, "OO:graph builder result", &nbro, &simo))
        return BS_ERR_CANCELLED;
    if (get_buffer(nbro, &nv, 0, "graph builder nbr") < 0)
        return BS_ERR_CANCELLED;
    if (get_buffer(simo, &sv, 0, "graph builder sim") < 0) {
        PyBuffer_Release(&nv);
        return BS_ERR_CANCELLED;
    }
    Py_ssize_t cells = (Py_ssize_t)(n * p->k);
    bs_status st = BS_ERR_CANCELLED;
    if (buffer_kind(&nv) != K_I32 || buffer_kind(&sv) != K_F32 ||
        nv.len != cells * 4 || sv.len != cells * 4)
        PyErr_Format(PyExc_ValueError,
                     "graph builder: returned %s and %s arrays of %zd and "
                     "%zd bytes: expected n*K = %zd int32 ids and float32 "
                     "similarities",
                     kind_name(&nv), kind_name(&sv), nv.len, sv.len, cells);
    else
        st = bs_graph_from_arrays(n, p->k, (const int32_t *)nv.buf,
                                  (const float *)sv.buf, p, out, err);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&nv);
    return st;
}

/*
 * bs_graph_builder over a Python callable builder(x, n, d, params) ->
 * (nbr, sim), called with the GIL (taken here: this runs without it, in the
 * thread of bs_batcher_next or the batcher's background one).  x is a
 * bytes copy of the store (n*d float32, row-major); params the dict of
 * Graph.params with the rebuild's seed.  A Python exception is kept in
 * build_exc and re-raised by the call that reports the failed rebuild.
 */
static bs_status py_build(void *ctx, const float *x, int64_t n, int64_t d,
                          const bs_graph_params *p, bs_graph **out,
                          bs_error *err)
{
    BatcherObject *self = ctx;
    PyGILState_STATE gs = PyGILState_Ensure();
    bs_status st = BS_ERR_CANCELLED;
    PyObject *xo = PyBytes_FromStringAndSize(
        (const char *)x, (Py_ssize_t)((size_t)n * (size_t)d * sizeof *x));
    PyObject *po = xo ? graph_params_dict(p) : NULL;
    PyObject *res = po ? PyObject_CallFunction(self->builder, "OLLO", xo,
                                               (long long)n, (long long)d, po)
                       : NULL;
    if (res)
        st = graph_of_result(res, n, p, out, err);
    Py_XDECREF(res);
    Py_XDECREF(po);
    Py_XDECREF(xo);
    if (st == BS_ERR_CANCELLED) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        if (type)
            PyErr_NormalizeException(&type, &value, &tb);
        if (value && tb)
            PyException_SetTraceback(value, tb);
        PyObject *msg = value ? PyObject_Str(value) : NULL;
        const char *m = msg ? PyUnicode_AsUTF8(msg) : NULL;
        if (!m)
            PyErr_Clear();
        err->code = st;
        snprintf(err->msg, sizeof err->msg, "graph builder: %s: %s",
                 type ? ((PyTypeObject *)type)->tp_name : "error", m ? m : "?");
        Py_XDECREF(msg);
        Py_XSETREF(self->build_exc, value);
        Py_XDECREF(type);
        Py_XDECREF(tb);
    }
    PyGILState_Release(gs);
    return st;
}

/* raise_bs for a batcher call: the builder's own exception if it failed. */
static PyObject *raise_batcher(SourceObject *o, const bs_error *e)
{
    BatcherObject *self = (BatcherObject *)o;
    if (e->code == BS_ERR_CANCELLED && self->build_exc) {
        PyObject *v = self->build_exc;
        self->build_exc = NULL;
        PyErr_SetObject((PyObject *)Py_TYPE(v), v);
        Py_DECREF(v);
        return NULL;
    }
    return raise_bs(e);
}

static bs_status batcher_call(SourceObject *o, source_call *c, bs_error *e)
{
    bs_batcher *b = ((BatcherObject *)o)->b;
    switch (c->op) {
    case CALL_NEXT:
        c->count = o->bsz;
        return bs_batcher_next(b, o->buf, NULL, e);
    case CALL_SET_EPOCH: return bs_batcher_set_epoch(b, c->arg, e);
    case CALL_SAVE_STATE:
        return bs_batcher_save_state(b, c->arg, &c->blob, &c->len, e);
    case CALL_LOAD_STATE: break;
    }
    return bs_batcher_load_state(b, c->blob, c->len, e);
}

/* The graph in force may have changed: drop the Graph copy. */
static void batcher_after_load(SourceObject *o)
{
    BatcherObject *self = (BatcherObject *)o;
    Py_CLEAR(self->graph_copy);
    self->graph_key = NULL;
}

static const source_ops batcher_ops = {
    .name = "Batcher",
    .call = batcher_call,
    .raise = raise_batcher,
    .after_load = batcher_after_load,
};

/*
 * Batcher(n, batch_size, kind="rwr", alpha=0.2, schedule="constant",
 *         tau=0.0, max_steps=0, epoch_mode="fixed", batches_per_epoch=0,
 *         drop_last=False, rank=0, world=1, seed=0, mode="shared", m=1000,
 *         k=100, block=0, threads=0, dim=128, warmup_epochs=1,
 *         refresh_every=100, refresh_lag=0, history=0, init=None)
 */
static PyObject *Batcher_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    static char *kwl[] = {"n",
                          "batch_size",
                          "kind",
                          "alpha",
                          "schedule",
                          "tau",
                          "max_steps",
                          "epoch_mode",
                          "batches_per_epoch",
                          "drop_last",
                          "rank",
                          "world",
                          "seed",
                          "mode",
                          "m",
                          "k",
                          "block",
                          "threads",
                          "dim",
                          "warmup_epochs",
                          "refresh_every",
                          "refresh_lag",
                          "history",
                          "init",
                          "builder",
                          NULL};
    sampler_args a = SAMPLER_ARGS_DEFAULT;
    long long m = 1000, dim = 128, warmup = 1, refresh_every = 100, lag = 0,
              history = 0;
    const char *mode = "shared";
    int k = 100, block = 0, threads = 0;
    PyObject *inito = Py_None, *builder = Py_None;
    if (!PyArg_ParseTupleAndKeywords(
            args, kw, "LL|sdsdLsLpiiKsLiiiLLLLLOO:Batcher", kwl, &a.n, &a.b,
            &a.kind, &a.alpha, &a.schedule, &a.tau, &a.max_steps, &a.epoch_mode,
            &a.bpe, &a.drop_last, &a.rank, &a.world, &a.seed, &mode, &m, &k,
            &block, &threads, &dim, &warmup, &refresh_every, &lag, &history,
            &inito, &builder))
        return NULL;
    if (builder != Py_None && !PyCallable_Check(builder)) {
        PyErr_Format(PyExc_TypeError,
                     "builder: expected a callable or None, got %.100s",
                     Py_TYPE(builder)->tp_name);
        return NULL;
    }
    bs_batcher_params p;
    bs_batcher_params_default(&p);
    if (fill_sampler_params(&p.sampler, &a) < 0 ||
        parse_mode(mode, &p.graph.mode) < 0)
        return NULL;
    /* the binding needs these to size its buffers; everything else is the
       library's to check */
    if (check_positive("batch_size", a.b) < 0 || check_positive("dim", dim) < 0)
        return NULL;
    p.graph.m = m;
    p.graph.k = k;
    p.graph.block = block;
    p.graph.threads = threads;
    p.dim = dim;
    p.warmup_epochs = warmup;
    p.refresh_every = refresh_every;
    p.refresh_lag = lag;
    p.history = history;

    Py_buffer v;
    const float *init = NULL;
    if (get_init(inito, &v, a.n, dim, &init) < 0)
        return NULL;
    BatcherObject *self = (BatcherObject *)type->tp_alloc(type, 0);
    int ok = self && source_init(&self->head, &batcher_ops, a.b) == 0;
    bs_error e;
    err_init(&e);
    bs_status st = BS_ERR_NOMEM;
    if (ok) {
        self->n = a.n;
        self->dim = dim;
        if (builder != Py_None) {
            self->builder = Py_NewRef(builder);
            p.build = py_build;
            p.build_ctx = self;
        }
        Py_BEGIN_ALLOW_THREADS st =
            bs_batcher_create(&p, a.n, init, &self->b, &e);
        Py_END_ALLOW_THREADS
    }
    if (init)
        PyBuffer_Release(&v);
    if (!ok) { /* MemoryError set */
        Py_XDECREF(self);
        return NULL;
    }
    if (st != BS_OK) {
        Py_DECREF(self);
        return raise_bs(&e);
    }
    return (PyObject *)self;
}

/* Checks the rows (all-zero ones too, which would fail only later, in a
   graph build) and writes them.  Runs without the GIL. */
static bs_status batcher_write(BatcherObject *self, const int64_t *ids,
                               int64_t count, const float *rows, bs_error *e)
{
    bs_status st = BS_OK;
    if (count > 0)
        st = bs_check_embeddings(rows, count, self->dim, e);
    if (st == BS_OK)
        st = bs_batcher_update(self->b, ids, count, rows, e);
    return st;
}

/* update(ids, rows): ids int64/int32 (c,), rows float32 (c, dim) */
static PyObject *Batcher_update(BatcherObject *self, PyObject *args)
{
    PyObject *ido, *rowo;
    if (!PyArg_ParseTuple(args, "OO:update", &ido, &rowo))
        return NULL;
    if (source_enter(&self->head) < 0)
        return NULL;
    PyObject *ret = NULL;
    Py_buffer rv;
    ids_view iv;
    int64_t rn, rd, count;
    if (get_ids(ido, &iv, 1, "indices") < 0)
        goto out;
    count = iv.count;
    if (get_matrix_f32(rowo, &rv, &rn, &rd, "embeddings") < 0)
        goto out_ids;
    if (rn != count || rd != self->dim) {
        PyErr_Format(PyExc_ValueError,
                     "update: embeddings of shape (%lld, %lld) for %lld "
                     "indices: expected (%lld, %lld)",
                     (long long)rn, (long long)rd, (long long)count,
                     (long long)count, (long long)self->dim);
        goto out_rows;
    }
    bs_error e;
    err_init(&e);
    bs_status st;
    Py_BEGIN_ALLOW_THREADS st = batcher_write(self, iv.ids, count, rv.buf, &e);
    Py_END_ALLOW_THREADS if (st != BS_OK) raise_bs(&e);
    else ret = Py_NewRef(Py_None);
out_rows:
    PyBuffer_Release(&rv);
out_ids:
    ids_release(&iv);
out:
    self->head.busy = 0;
    return ret;
}

static PyObject *Batcher_set_epoch(BatcherObject *self, PyObject *arg)
{
    PyObject *r = Source_set_epoch(&self->head, arg);
    if (!r && self->build_exc) { /* a rebuild installed here had failed */
        PyErr_Clear();
        bs_error e = {.code = BS_ERR_CANCELLED};
        return raise_batcher(&self->head, &e);
    }
    return r;
}

/* save_state(at=-1) -> bytes */
static PyObject *Batcher_save_state(BatcherObject *self, PyObject *args,
                                    PyObject *kw)
{
    static char *kwl[] = {"at", NULL};
    long long at = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|L:save_state", kwl, &at))
        return NULL;
    return source_save_state(&self->head, at);
}

/* A Graph holding a copy of g (the batcher's graph changes under it). */
static PyObject *graph_copy(const bs_graph *g)
{
    int64_t n = bs_graph_n(g);
    int32_t k = bs_graph_k(g);
    size_t cells = (size_t)n * (size_t)k;
    int32_t *nbr = malloc(cells * sizeof *nbr);
    float *sim = malloc(cells * sizeof *sim);
    if (!nbr || !sim) {
        free(nbr);
        free(sim);
        return PyErr_NoMemory();
    }
    graph_rows(g, nbr, sim);
    bs_graph_params p;
    bs_graph_get_params(g, &p);
    bs_error e;
    err_init(&e);
    bs_graph *c = NULL;
    bs_status st = bs_graph_from_arrays(n, k, nbr, sim, &p, &c, &e);
    free(nbr);
    free(sim);
    if (st != BS_OK)
        return raise_bs(&e);
    return graph_wrap(c);
}

static PyObject *Batcher_get_graph(BatcherObject *self, void *c)
{
    (void)c;
    const bs_graph *g = bs_batcher_graph(self->b);
    if (!g)
        Py_RETURN_NONE;
    int64_t builds = bs_batcher_builds(self->b);
    if (!self->graph_copy || self->graph_key != g ||
        self->graph_builds_key != builds) {
        PyObject *copy = graph_copy(g);
        if (!copy)
            return NULL;
        Py_XSETREF(self->graph_copy, copy);
        self->graph_key = g;
        self->graph_builds_key = builds;
    }
    return Py_NewRef(self->graph_copy);
}

INT_GETTER(Batcher, position, bs_batcher_position(self->b))
INT_GETTER(Batcher, epoch, bs_batcher_epoch(self->b))
INT_GETTER(Batcher, batch_index, bs_batcher_batch_index(self->b))
INT_GETTER(Batcher, epoch_length, bs_batcher_epoch_length(self->b))
INT_GETTER(Batcher, builds, bs_batcher_builds(self->b))
INT_GETTER(Batcher, n, self->n)
INT_GETTER(Batcher, batch_size, self->head.bsz)
INT_GETTER(Batcher, dim, self->dim)

static PyObject *Batcher_get_last_from_graph(BatcherObject *self, void *c)
{
    (void)c;
    return PyBool_FromLong(bs_batcher_last_from_graph(self->b));
}

/* rows written at least once; 0 without a store (uniform kind) */
static PyObject *Batcher_get_written(BatcherObject *self, void *c)
{
    (void)c;
    const bs_embstore *s = bs_batcher_store(self->b);
    return PyLong_FromLongLong(s ? (long long)bs_embstore_written(s) : 0);
}

static PyObject *Batcher_get_store_version(BatcherObject *self, void *c)
{
    (void)c;
    const bs_embstore *s = bs_batcher_store(self->b);
    return PyLong_FromUnsignedLongLong(s ? bs_embstore_version(s) : 0);
}

/* alpha of the graph sampler's epoch, None before the first graph */
static PyObject *Batcher_get_alpha(BatcherObject *self, void *c)
{
    (void)c;
    return alpha_or_none(bs_batcher_graph_sampler(self->b));
}

static PyObject *Batcher_get_times(BatcherObject *self, void *c)
{
    (void)c;
    double build = 0, wait = 0, sample = 0;
    bs_batcher_times(self->b, &build, &wait, &sample);
    return Py_BuildValue("{s:d,s:d,s:d}", "build_s", build, "wait_s", wait,
                         "sample_s", sample);
}

static PyMethodDef Batcher_methods[] = {
    {"next", (PyCFunction)Source_next, METH_NOARGS,
     "next() -> list of batch_size ids (epoch after epoch, never ends)"},
    {"update", (PyCFunction)Batcher_update, METH_VARARGS,
     "update(ids, rows): writes float32 (c, dim) rows into the store"},
    {"set_epoch", (PyCFunction)Batcher_set_epoch, METH_O,
     "set_epoch(e): go to the first batch of epoch e (no-op if there)"},
    {"save_state", BS_KWFUNC(Batcher_save_state), METH_VARARGS | METH_KEYWORDS,
     "save_state(at=-1) -> bytes: resume at position `at` (-1 = current; "
     "else one of the last `history` positions)"},
    {"load_state", (PyCFunction)Source_load_state, METH_O,
     "load_state(blob): restores a save_state() blob"},
    {NULL, NULL, 0, NULL}};

static PyGetSetDef Batcher_getset[] = {
    {"position", (getter)Batcher_get_position, NULL,
     "batches issued so far (epoch * epoch_length + batch_index)", NULL},
    {"epoch", (getter)Batcher_get_epoch, NULL, "epoch of the next batch", NULL},
    {"batch_index", (getter)Batcher_get_batch_index, NULL,
     "index of the next batch in its epoch", NULL},
    {"epoch_length", (getter)Batcher_get_epoch_length, NULL,
     "batches per epoch", NULL},
    {"builds", (getter)Batcher_get_builds, NULL, "graph rebuilds started",
     NULL},
    {"last_from_graph", (getter)Batcher_get_last_from_graph, NULL,
     "whether the last batch came from the graph sampler", NULL},
    {"graph", (getter)Batcher_get_graph, NULL,
     "a Graph copy of the graph in force, or None", NULL},
    {"written", (getter)Batcher_get_written, NULL,
     "store rows written at least once (0 for the uniform kind)", NULL},
    {"store_version", (getter)Batcher_get_store_version, NULL,
     "the store's update counter", NULL},
    {"alpha", (getter)Batcher_get_alpha, NULL,
     "alpha in force in the graph sampler, or None", NULL},
    {"times", (getter)Batcher_get_times, NULL,
     "seconds spent building, waiting for rebuilds and sampling", NULL},
    {"n", (getter)Batcher_get_n, NULL, "instances", NULL},
    {"batch_size", (getter)Batcher_get_batch_size, NULL, "B", NULL},
    {"dim", (getter)Batcher_get_dim, NULL, "row width of update()", NULL},
    {NULL, NULL, NULL, NULL, NULL}};

static PyTypeObject Batcher_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name =
        "batchsampler._batchsampler.Batcher",
    .tp_basicsize = sizeof(BatcherObject),
    .tp_dealloc = (destructor)Batcher_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc =
        "Batcher(n, batch_size, kind='rwr', alpha=0.2, schedule='constant', "
        "tau=0.0, max_steps=0, epoch_mode='fixed', batches_per_epoch=0, "
        "drop_last=False, rank=0, world=1, seed=0, mode='shared', m=1000, "
        "k=100, block=0, threads=0, dim=128, warmup_epochs=1, "
        "refresh_every=100, refresh_lag=0, history=0, init=None): "
        "bs_batcher, the whole BatchSampler policy.",
    .tp_methods = Batcher_methods,
    .tp_getset = Batcher_getset,
    .tp_new = Batcher_new,
};

/* ------------------------------------------------------------------------ */
/* Module functions                                                          */
/* ------------------------------------------------------------------------ */

static PyObject *mod_version(PyObject *m, PyObject *noargs)
{
    (void)m;
    (void)noargs;
    return PyUnicode_FromString(bs_version());
}

static PyObject *mod_check_embeddings(PyObject *m, PyObject *arg)
{
    (void)m;
    Py_buffer v;
    int64_t n, d;
    if (get_matrix_f32(arg, &v, &n, &d, "embeddings") < 0)
        return NULL;
    bs_error e;
    err_init(&e);
    bs_status st = bs_check_embeddings((const float *)v.buf, n, d, &e);
    PyBuffer_Release(&v);
    if (st != BS_OK)
        return raise_bs(&e);
    Py_RETURN_NONE;
}

/* check_graph_params(n, m, k, mode, block=0) */
static PyObject *mod_check_graph_params(PyObject *m, PyObject *args,
                                        PyObject *kw)
{
    (void)m;
    static char *kwl[] = {"n", "m", "k", "mode", "block", NULL};
    long long n, mm;
    int k, block = 0;
    const char *mode;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "LLis|i:check_graph_params", kwl,
                                     &n, &mm, &k, &mode, &block))
        return NULL;
    bs_graph_params p;
    if (fill_graph_params(&p, mm, k, mode, 0, block, 0) < 0)
        return NULL;
    bs_error e;
    err_init(&e);
    if (bs_graph_params_check(&p, n, &e) != BS_OK)
        return raise_bs(&e);
    Py_RETURN_NONE;
}

/*
 * canonical_name(what, s) -> the library's name for the value s of a
 * "sampler" kind, graph "mode", alpha "schedule" ("decay" -> "step") or
 * "epoch_mode"; ValueError (the library's message) for an unknown value.
 */
static PyObject *mod_canonical_name(PyObject *m, PyObject *args)
{
    (void)m;
    const char *what, *s, *name = NULL;
    if (!PyArg_ParseTuple(args, "ss:canonical_name", &what, &s))
        return NULL;
    bs_error e;
    err_init(&e);
    bs_status st;
    if (strcmp(what, "sampler") == 0) {
        bs_sampler_kind v;
        if ((st = bs_sampler_kind_parse(s, &v, &e)) == BS_OK)
            name = bs_sampler_kind_name(v);
    } else if (strcmp(what, "mode") == 0) {
        bs_graph_mode v;
        if ((st = bs_graph_mode_parse(s, &v, &e)) == BS_OK)
            name = bs_graph_mode_name(v);
    } else if (strcmp(what, "schedule") == 0) {
        bs_alpha_schedule v;
        if ((st = bs_alpha_schedule_parse(s, &v, &e)) == BS_OK)
            name = bs_alpha_schedule_name(v);
    } else if (strcmp(what, "epoch_mode") == 0) {
        bs_epoch_mode v;
        if ((st = bs_epoch_mode_parse(s, &v, &e)) == BS_OK)
            name = bs_epoch_mode_name(v);
    } else {
        PyErr_Format(PyExc_ValueError,
                     "canonical_name: '%s': expected sampler, mode, schedule "
                     "or epoch_mode",
                     what);
        return NULL;
    }
    if (st != BS_OK)
        return raise_bs(&e);
    return PyUnicode_FromString(name ? name : s);
}

/* graph_seed(seed, r) -> the seed of a batcher's rebuild r */
static PyObject *mod_graph_seed(PyObject *m, PyObject *args)
{
    (void)m;
    unsigned long long seed;
    long long r;
    if (!PyArg_ParseTuple(args, "KL:graph_seed", &seed, &r))
        return NULL;
    return PyLong_FromUnsignedLongLong(bs_batcher_graph_seed(seed, r));
}

/* Optional labels: None (iv->ids NULL) or an integer vector of n values;
   on success the caller must ids_release(iv). */
static int get_labels(PyObject *o, ids_view *iv, int64_t n)
{
    iv->ids = NULL;
    iv->held = 0;
    iv->tmp = NULL;
    if (o == Py_None)
        return 0;
    if (get_ids(o, iv, 1, "labels") < 0)
        return -1;
    if (iv->count != n) {
        PyErr_Format(PyExc_ValueError, "labels: %lld values, expected n = %lld",
                     (long long)iv->count, (long long)n);
        ids_release(iv);
        return -1;
    }
    return 0;
}

/* The arrays of batch_stats (a batch) and run_stats (nb batches). */
typedef struct {
    Py_buffer x;
    int64_t n, d, nb, b; /* x is (n, d), the batches (nb, b) */
    ids_view batches, labels;
} stats_in;

static void stats_in_release(stats_in *s)
{
    ids_release(&s->labels);
    ids_release(&s->batches);
    PyBuffer_Release(&s->x);
}

/* x, the batches (a vector when ndim is 1, else (nb, b)) and the labels;
   on success the caller must stats_in_release(s). */
static int stats_in_get(stats_in *s, PyObject *xo, PyObject *bo, PyObject *lo,
                        int ndim)
{
    s->batches.held = 0;
    s->labels.held = 0;
    if (get_matrix_f32(xo, &s->x, &s->n, &s->d, "embeddings") < 0)
        return -1;
    if (get_ids(bo, &s->batches, ndim, ndim == 1 ? "batch" : "batches") < 0 ||
        get_labels(lo, &s->labels, s->n) < 0) {
        stats_in_release(s);
        return -1;
    }
    s->nb = ndim == 1 ? 1 : (int64_t)s->batches.v.shape[0];
    s->b = (int64_t)s->batches.v.shape[ndim - 1];
    return 0;
}

/* batch_stats(x, batch, labels=None) -> dict */
static PyObject *mod_batch_stats(PyObject *m, PyObject *args, PyObject *kw)
{
    (void)m;
    static char *kwl[] = {"x", "batch", "labels", NULL};
    PyObject *xo, *bo, *lo = Py_None;
    stats_in in;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:batch_stats", kwl, &xo,
                                     &bo, &lo) ||
        stats_in_get(&in, xo, bo, lo, 1) < 0)
        return NULL;
    PyObject *ret = NULL;
    bs_error e;
    err_init(&e);
    bs_batch_stats s;
    bs_status st;
    Py_BEGIN_ALLOW_THREADS st =
        bs_batch_stats_compute((const float *)in.x.buf, in.n, in.d,
                               in.batches.ids, in.b, in.labels.ids, &s, &e);
    Py_END_ALLOW_THREADS if (st != BS_OK) raise_bs(&e);
    else if (s.fn_rate < 0) ret =
        Py_BuildValue("{s:L,s:d,s:d,s:d,s:O}", "pairs", (long long)s.pairs,
                      "mean_sim", s.mean_sim, "max_sim", s.max_sim,
                      "mean_max_sim", s.mean_max_sim, "fn_rate", Py_None);
    else ret =
        Py_BuildValue("{s:L,s:d,s:d,s:d,s:d}", "pairs", (long long)s.pairs,
                      "mean_sim", s.mean_sim, "max_sim", s.max_sim,
                      "mean_max_sim", s.mean_max_sim, "fn_rate", s.fn_rate);
    stats_in_release(&in);
    return ret;
}

/* run_stats(x, batches, labels=None, threads=0): batches int (nb, b) */
static PyObject *mod_run_stats(PyObject *m, PyObject *args, PyObject *kw)
{
    (void)m;
    static char *kwl[] = {"x", "batches", "labels", "threads", NULL};
    PyObject *xo, *bo, *lo = Py_None;
    int threads = 0;
    stats_in in;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|Oi:run_stats", kwl, &xo, &bo,
                                     &lo, &threads) ||
        stats_in_get(&in, xo, bo, lo, 2) < 0)
        return NULL;
    PyObject *ret = NULL;
    bs_error e;
    err_init(&e);
    bs_run_stats s;
    bs_status st;
    Py_BEGIN_ALLOW_THREADS st = bs_run_stats_compute(
        (const float *)in.x.buf, in.n, in.d, in.batches.ids, in.nb, in.b,
        in.labels.ids, threads, &s, &e);
    Py_END_ALLOW_THREADS if (st != BS_OK) raise_bs(&e);
    else ret = Py_BuildValue(
        "{s:L,s:d,s:d,s:d,s:N,s:L,s:d,s:L,s:L}", "batches",
        (long long)s.batches, "mean_sim", s.mean_sim, "max_sim", s.max_sim,
        "mean_max_sim", s.mean_max_sim, "fn_rate",
        s.fn_rate < 0 ? Py_NewRef(Py_None) : PyFloat_FromDouble(s.fn_rate),
        "count_min", (long long)s.count_min, "count_mean", s.count_mean,
        "count_max", (long long)s.count_max, "never_seen",
        (long long)s.never_seen);
    stats_in_release(&in);
    return ret;
}

static PyMethodDef module_methods[] = {
    {"version", mod_version, METH_NOARGS, "library version string"},
    {"check_embeddings", mod_check_embeddings, METH_O,
     "check_embeddings(x): ValueError if x is unusable for cosine similarity"},
    {"check_graph_params", BS_KWFUNC(mod_check_graph_params),
     METH_VARARGS | METH_KEYWORDS,
     "check_graph_params(n, m, k, mode, block=0)"},
    {"canonical_name", mod_canonical_name, METH_VARARGS,
     "canonical_name(what, s): what = 'sampler' | 'mode' | 'schedule' | "
     "'epoch_mode'; the library's name for s"},
    {"graph_seed", mod_graph_seed, METH_VARARGS,
     "graph_seed(seed, r) -> seed of rebuild r (bs_batcher_graph_seed)"},
    {"build_rows", BS_KWFUNC(mod_build_rows), METH_VARARGS | METH_KEYWORDS,
     "build_rows(x, lo, hi, nbr, sim, m=1000, k=100, mode='shared', seed=0, "
     "block=0, threads=0): rows [lo, hi) of a graph build into nbr, sim"},
    {"batch_stats", BS_KWFUNC(mod_batch_stats), METH_VARARGS | METH_KEYWORDS,
     "batch_stats(x, batch, labels=None) -> dict"},
    {"run_stats", BS_KWFUNC(mod_run_stats), METH_VARARGS | METH_KEYWORDS,
     "run_stats(x, batches, labels=None, threads=0) -> dict"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "batchsampler._batchsampler",
    .m_doc = "Low-level binding of libbatchsampler (see batchsampler.h).",
    .m_size = 0,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__batchsampler(void)
{
    if (PyType_Ready(&Graph_Type) < 0 || PyType_Ready(&Sampler_Type) < 0 ||
        PyType_Ready(&Batcher_Type) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m)
        return NULL;
    if (PyModule_AddObjectRef(m, "Graph", (PyObject *)&Graph_Type) < 0 ||
        PyModule_AddObjectRef(m, "Sampler", (PyObject *)&Sampler_Type) < 0 ||
        PyModule_AddObjectRef(m, "Batcher", (PyObject *)&Batcher_Type) < 0 ||
        PyModule_AddStringConstant(m, "__version__", bs_version()) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
