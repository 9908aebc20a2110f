/*
 * tokenize.h — the language modality's tokenizer and vocabulary (library
 * bs_language, language/).  See docs/language.md.
 *
 * Tokens.  A sentence (UTF-8) is cut into tokens by one rule:
 *   - a run of ASCII letters and digits is one word, lower-cased;
 *   - every other character that is not white space is a token by itself
 *     (one UTF-8 sequence: punctuation, symbols, and also non-ASCII
 *     letters, which are lower-cased within Latin-1: U+00C0-U+00DE but
 *     U+00D7 become U+00E0-U+00FE);
 *   - white space is ASCII space, tab, CR, LF, VT, FF and U+00A0;
 *   - a byte that does not start valid UTF-8 is a token by itself.
 * This is the rule the reference GloVe-average numbers of
 * ../shared/data/README.md were measured with (it reproduces them; see
 * docs/language.md): "don't" -> don ' t, "U.S." -> u . s ., "café" ->
 * caf é.  A word longer than BSL_TOKEN_MAX - 1 bytes is cut there.
 *
 * Vocabulary.  Ids 0 [PAD], 1 [CLS], 2 [UNK]; then the GloVe words in the
 * vectors file's order (id 3 + row); then the corpus's other tokens seen
 * at least min_count times, most frequent first (ties in byte order), up
 * to max_extra of them.  A token outside the vocabulary is [UNK].  The
 * same inputs give the same ids.
 *
 * Sequences: [CLS] followed by the sentence's token ids, cut to at most
 * max_len ids in all (SimCSE's max_seq_length is 32: BSL_MAX_SEQ), padded
 * with [PAD].
 */
#ifndef BS_LANGUAGE_TOKENIZE_H
#define BS_LANGUAGE_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#include "text.h"

#define BSL_TOKEN_MAX 64 /* bytes of a token, its NUL included */
#define BSL_MAX_SEQ 32

enum { BSL_PAD = 0, BSL_CLS = 1, BSL_UNK = 2, BSL_FIRST_WORD = 3 };

/* Reads the token that starts at or after *p, writes it lower-cased and
   NUL-terminated to tok (BSL_TOKEN_MAX bytes) and moves *p past it.
   Returns its length in bytes (>= 1), or 0 when the string has no more
   tokens. */
size_t bsl_next_token(const char **p, char tok[BSL_TOKEN_MAX]);

/* Number of tokens of s. */
int64_t bsl_count_tokens(const char *s);

typedef struct {
    int64_t size;      /* ids 0 .. size-1 */
    int64_t n_glove;   /* ids 3 .. 3 + n_glove - 1 are the GloVe rows */
    const char **word; /* (size) the token of each id ([PAD] etc. included) */
    bst_strtab index;  /* token -> id - 3 */
    char *buf;         /* the words' bytes (v owns a copy) */
} bsl_vocab;

/* Builds the vocabulary from the GloVe words and the corpus (c may be
   NULL: GloVe words only).  max_extra >= 0, min_count >= 1.  BST_OK,
   BST_ERR_INVAL (bad arguments) or BST_ERR_NOMEM; on error *v is zeroed.
   v keeps copies of the words (g may be freed after). */
int bsl_vocab_build(const bst_glove *g, const bst_corpus *c, int64_t max_extra,
                    int64_t min_count, bsl_vocab *v, char *msg, size_t cap);
void bsl_vocab_free(bsl_vocab *v);

/* Id of a token (BSL_UNK when absent). */
int32_t bsl_vocab_id(const bsl_vocab *v, const char *tok);

/* ids[0 .. max_len) = [CLS] + the sentence's ids, cut to max_len, then
   [PAD]s.  Returns the number of ids before the padding (1 .. max_len);
   max_len >= 1. */
int bsl_encode(const bsl_vocab *v, const char *sentence, int32_t *ids,
               int max_len);

#endif /* BS_LANGUAGE_TOKENIZE_H */
