/*
 * text.h — readers for the language modality's files (formats described in
 * ../shared/data/README.md): the unlabelled sentence corpus, GloVe word
 * vectors in text format, and the STS / SICK sentence-pair files.  Part of
 * bs_data: libc only, nothing of the engine.
 *
 * Every reader has a file form (path) and a memory form (`*_parse`: bytes,
 * not necessarily NUL-terminated, plus a name `what` used in messages) for
 * the fuzzers and tests.  They return BST_OK, BST_ERR_IO (cannot open or
 * read; the message names the file and the errno text), BST_ERR_FORMAT
 * (a one-line message "WHAT:LINE: what is wrong (expected ...)"),
 * BST_ERR_NOMEM or BST_ERR_INVAL (NULL arguments).  On error nothing is
 * allocated and the output struct is zeroed.
 *
 * Rules shared by the three formats: the text must be valid UTF-8 (no
 * overlong forms, surrogates or code points above U+10FFFF) without NUL
 * bytes; lines end in LF or CRLF (the last one may lack it); a line holds
 * at most BST_TEXT_MAX_LINE bytes.
 */
#ifndef BS_DATA_TEXT_H
#define BS_DATA_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Longest line accepted (bytes, without the line end). */
#define BST_TEXT_MAX_LINE 4096
/* Largest word-vector dimension accepted. */
#define BST_GLOVE_MAX_DIM 4096

/* Writes the formatted message to msg (cap bytes, one line: line ends
   become spaces; nothing if msg is NULL) and returns code. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
int bst_text_fail(char *msg, size_t cap, int code, const char *fmt, ...);

/* ------------------------------------------------------------- strings */

/* An open-addressing table of distinct byte strings, each mapped to the
   index it was added with (0, 1, 2, ...).  The table does not own the
   strings: they must outlive it. */
typedef struct {
    const char **key; /* (cap) NULL for an empty slot */
    uint32_t *klen;   /* (cap) */
    int32_t *val;     /* (cap) */
    int64_t cap;      /* power of two */
    int64_t count;
} bst_strtab;

/* A table sized for n strings (n >= 0; it grows past n as needed). */
int bst_strtab_init(bst_strtab *t, int64_t n);
/* Adds s[0..len) with value count; returns its value (>= 0), or, if the
   string is already there, -1 - its existing value; INT32_MIN if out of
   memory (or past 2^30 strings). */
int32_t bst_strtab_add(bst_strtab *t, const char *s, size_t len);
/* The value of s[0..len), or -1. */
int32_t bst_strtab_get(const bst_strtab *t, const char *s, size_t len);
void bst_strtab_free(bst_strtab *t);

/* Length of the valid UTF-8 sequence at s[0..len) (1..4), or 0 if the
   bytes there are not valid UTF-8 (or len == 0). */
int bst_utf8_len(const unsigned char *s, size_t len);

/* ------------------------------------------------------------- corpus */

/* One sentence a line; sentence i is line i + 1 (no line may be empty or
   blank, so that the two numberings agree).  Sentences are stored without
   their line ends, NUL-terminated, in one buffer. */
typedef struct {
    int64_t n;       /* sentences >= 1 */
    char **sentence; /* (n) pointers into buf */
    char *buf;
} bst_corpus;

int bst_corpus_load(const char *path, bst_corpus *out, char *msg, size_t cap);
int bst_corpus_parse(const char *text, size_t len, const char *what,
                     bst_corpus *out, char *msg, size_t cap);
void bst_corpus_free(bst_corpus *c);

/* ------------------------------------------------------------- GloVe */

/* `word v1 ... vd` a line, fields separated by one space each (GloVe's
   text format); d from the first line, the same on every line (1 <= d <=
   BST_GLOVE_MAX_DIM); numbers parsed by strtod, finite as floats; words
   distinct.  Row i is line i + 1. */
typedef struct {
    int64_t n; /* words >= 1 */
    int dim;
    char **word;      /* (n) pointers into buf */
    float *vec;       /* (n, dim) */
    bst_strtab index; /* word -> row */
    char *buf;
} bst_glove;

int bst_glove_load(const char *path, bst_glove *out, char *msg, size_t cap);
int bst_glove_parse(const char *text, size_t len, const char *what,
                    bst_glove *out, char *msg, size_t cap);
void bst_glove_free(bst_glove *g);

/* ------------------------------------------------------------- STS */

/* Sentence pairs with a gold score.  Two formats, told apart by the first
   line:
   - STS: `score<TAB>s1<TAB>s2` a line, score a number in [0, 5];
   - SICK: the header `pair_ID<TAB>sentence_A<TAB>sentence_B<TAB>
     relatedness_score<TAB>entailment_judgment`, then lines of those five
     fields: a non-negative integer id, two sentences, relatedness in
     [1, 5], judgment NEUTRAL, ENTAILMENT or CONTRADICTION.
   Sentences must be non-empty.  At least one pair. */
typedef struct {
    int64_t n;
    double *score; /* (n) gold */
    char **s1;     /* (n) pointers into buf */
    char **s2;
    int sick; /* 1: the file was in the SICK format */
    char *buf;
} bst_sts;

int bst_sts_load(const char *path, bst_sts *out, char *msg, size_t cap);
int bst_sts_parse(const char *text, size_t len, const char *what, bst_sts *out,
                  char *msg, size_t cap);
void bst_sts_free(bst_sts *s);

#endif /* BS_DATA_TEXT_H */
