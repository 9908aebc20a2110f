/* test_embstore.c — the embedding store: create, update, validation. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

static void test_create_copies_init(void **state)
{
    (void)state;
    float init[6] = {1, 2, 3, 4, 5, 6};
    bs_embstore *s;
    bs_error err;
    assert_int_equal(bs_embstore_create(3, 2, init, &s, &err), BS_OK);
    assert_int_equal(bs_embstore_n(s), 3);
    assert_int_equal(bs_embstore_d(s), 2);
    init[0] = 99; /* the store owns a copy */
    const float *x = bs_embstore_data(s);
    assert_true(x[0] == 1.0f);
    assert_true(x[5] == 6.0f);
    bs_embstore_free(s);
}

static void test_create_zero(void **state)
{
    (void)state;
    bs_embstore *s;
    bs_error err;
    assert_int_equal(bs_embstore_create(4, 3, NULL, &s, &err), BS_OK);
    const float *x = bs_embstore_data(s);
    for (int i = 0; i < 12; i++)
        assert_true(x[i] == 0.0f);
    bs_embstore_free(s);
}

static void test_create_rejects(void **state)
{
    (void)state;
    bs_embstore *s = (bs_embstore *)&state;
    bs_error err;
    tu_assert_fails(bs_embstore_create(0, 3, NULL, &s, &err),
                    BS_ERR_INVALID_ARG, &err, "0 x 3: expected n >= 1, d >= 1");
    assert_null(s);
    tu_assert_fails(bs_embstore_create(3, -1, NULL, &s, &err),
                    BS_ERR_INVALID_ARG, &err, "3 x -1");
    tu_assert_fails(bs_embstore_create(INT64_MAX, INT64_MAX, NULL, &s, &err),
                    BS_ERR_INVALID_ARG, &err, "addressable");
    tu_assert_fails(bs_embstore_create(2, 2, NULL, NULL, &err),
                    BS_ERR_INVALID_ARG, &err, "output pointer is NULL");
    bs_embstore_free(NULL);
    assert_null(bs_embstore_data(NULL));
    assert_int_equal(bs_embstore_n(NULL), 0);
    assert_int_equal(bs_embstore_d(NULL), 0);
}

static void test_update_rows(void **state)
{
    (void)state;
    bs_embstore *s;
    bs_error err;
    assert_int_equal(bs_embstore_create(5, 2, NULL, &s, &err), BS_OK);
    const float *x = bs_embstore_data(s);
    int64_t idx[2] = {3, 0};
    float rows[4] = {7, 8, 9, 10};
    assert_int_equal(bs_embstore_update(s, idx, 2, rows, &err), BS_OK);
    const float want[10] = {9, 10, 0, 0, 0, 0, 7, 8, 0, 0};
    assert_memory_equal(x, want, sizeof want);
    /* the pointer stays valid and sees later updates */
    int64_t one = 4;
    float r[2] = {-1, -2};
    assert_int_equal(bs_embstore_update(s, &one, 1, r, &err), BS_OK);
    assert_ptr_equal(bs_embstore_data(s), x);
    assert_true(x[8] == -1.0f && x[9] == -2.0f);
    bs_embstore_free(s);
}

static void test_update_repeated_last_wins(void **state)
{
    (void)state;
    bs_embstore *s;
    bs_error err;
    assert_int_equal(bs_embstore_create(3, 2, NULL, &s, &err), BS_OK);
    int64_t idx[3] = {1, 2, 1};
    float rows[6] = {1, 1, 2, 2, 3, 3};
    assert_int_equal(bs_embstore_update(s, idx, 3, rows, &err), BS_OK);
    const float want[6] = {0, 0, 3, 3, 2, 2};
    assert_memory_equal(bs_embstore_data(s), want, sizeof want);
    bs_embstore_free(s);
}

static void test_update_bad_id_changes_nothing(void **state)
{
    (void)state;
    float init[6] = {1, 2, 3, 4, 5, 6};
    bs_embstore *s;
    bs_error err;
    assert_int_equal(bs_embstore_create(3, 2, init, &s, &err), BS_OK);
    int64_t idx[3] = {0, 1, 3}; /* the last is out of range */
    float rows[6] = {9, 9, 9, 9, 9, 9};
    tu_assert_fails(bs_embstore_update(s, idx, 3, rows, &err),
                    BS_ERR_INVALID_ARG, &err,
                    "idx[2] = 3: expected 0 <= id < n = 3");
    assert_memory_equal(bs_embstore_data(s), init, sizeof init);
    idx[2] = -1;
    tu_assert_fails(bs_embstore_update(s, idx, 3, rows, &err),
                    BS_ERR_INVALID_ARG, &err, "idx[2] = -1");
    assert_memory_equal(bs_embstore_data(s), init, sizeof init);
    bs_embstore_free(s);
}

static void test_update_args(void **state)
{
    (void)state;
    bs_embstore *s;
    bs_error err;
    assert_int_equal(bs_embstore_create(2, 2, NULL, &s, &err), BS_OK);
    int64_t idx[1] = {0};
    float rows[2] = {1, 1};
    assert_int_equal(bs_embstore_update(s, NULL, 0, NULL, &err), BS_OK);
    assert_int_equal(bs_embstore_update(s, idx, 0, rows, &err), BS_OK);
    tu_assert_fails(bs_embstore_update(NULL, idx, 1, rows, &err),
                    BS_ERR_INVALID_ARG, &err, "store is NULL");
    tu_assert_fails(bs_embstore_update(s, NULL, 1, rows, &err),
                    BS_ERR_INVALID_ARG, &err, "idx is NULL");
    tu_assert_fails(bs_embstore_update(s, idx, 1, NULL, &err),
                    BS_ERR_INVALID_ARG, &err, "rows is NULL");
    tu_assert_fails(bs_embstore_update(s, idx, -1, rows, &err),
                    BS_ERR_INVALID_ARG, &err, "count = -1");
    const float zero[4] = {0};
    assert_memory_equal(bs_embstore_data(s), zero, sizeof zero);
    bs_embstore_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_copies_init),
        cmocka_unit_test(test_create_zero),
        cmocka_unit_test(test_create_rejects),
        cmocka_unit_test(test_update_rows),
        cmocka_unit_test(test_update_repeated_last_wins),
        cmocka_unit_test(test_update_bad_id_changes_nothing),
        cmocka_unit_test(test_update_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
