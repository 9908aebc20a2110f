/* bench_svm.c — times the SVM evaluation (train/svm_eval.h) on a real
   GraphCL embedding: trains GraphCL (random2, uniform batches in id order
   shuffled per epoch, `epochs` epochs) on a TU folder, embeds every graph,
   saves the embedding (.f32 raw, n x 96), then runs bst_svm_eval with 1
   and 2 threads, printing the seconds, the accuracy and whether the two
   results are identical.  Not a ctest (only test_*.c are): build by hand,
     cc -O2 -fopenmp -Igraphs -Itrain -Idata -Isrc -Iinclude \
       graphs/tests/bench_svm.c build-g4/graphs/libbs_graphs.a \
       build-g4/train/libbs_train.a build-g4/data/libbs_data.a \
       build-g4/libbatchsampler.a -lsvm -llinear -lopenblas -lz -lm
   (library names as the build has them), then
     ./a.out ../shared/data/tu/PROTEINS 20 [emb.f32]   */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphcl.h"
#include "rng.h"
#include "svm_eval.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_svm DIR EPOCHS [emb.f32]\n");
        return 2;
    }
    char msg[256];
    bst_tu d;
    if (bst_tu_load(argv[1], &d, msg, sizeof msg) ||
        bsg_features_apply(&d, BSG_FEAT_AUTO, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    int64_t n = d.graphs;
    float *emb = NULL;
    FILE *f = argc > 3 ? fopen(argv[3], "rb") : NULL;
    bsg_graphcl m;
    bsg_graphcl_cfg c;
    bsg_graphcl_cfg_default(&c);
    if (bsg_graphcl_init(&m, &c, d.feat, msg, sizeof msg)) {
        fprintf(stderr, "%s\n", msg);
        return 1;
    }
    emb = malloc(sizeof(float) * (size_t)n * (size_t)m.emb);
    if (f && fread(emb, sizeof(float), (size_t)(n * m.emb), f) ==
                 (size_t)(n * m.emb)) {
        fclose(f);
        printf("embedding read from %s\n", argv[3]);
    } else {
        int64_t *perm = malloc(sizeof(int64_t) * (size_t)n);
        bs_rng r;
        bs_rng_seed(&r, 1);
        for (int64_t i = 0; i < n; i++)
            perm[i] = i;
        for (int e = 0; e < atoi(argv[2]); e++) {
            for (int64_t i = n - 1; i > 0; i--) {
                int64_t j = (int64_t)bs_rng_below(&r, (uint64_t)i + 1), t;
                t = perm[i], perm[i] = perm[j], perm[j] = t;
            }
            for (int64_t s = 0; s + c.batch <= n; s += c.batch) {
                double loss;
                if (bsg_graphcl_step(&m, &d, perm + s, 0.01, &loss, msg,
                                     sizeof msg)) {
                    fprintf(stderr, "%s\n", msg);
                    return 1;
                }
            }
        }
        free(perm);
        if (bsg_graphcl_embed(&m, &d, emb, msg, sizeof msg)) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        if (argc > 3 && (f = fopen(argv[3], "wb"))) {
            fwrite(emb, sizeof(float), (size_t)(n * m.emb), f);
            fclose(f);
        }
    }
    bst_svm_config sc;
    bst_svm_result res[2];
    bst_svm_config_default(&sc);
    for (int t = 1; t <= 2; t++) {
        omp_set_num_threads(t);
        double t0 = omp_get_wtime();
        if (bst_svm_eval(&sc, emb, n, m.emb, d.label, &res[t - 1], msg,
                         sizeof msg)) {
            fprintf(stderr, "%s\n", msg);
            return 1;
        }
        printf("%d thread(s): %.1f s  accuracy %.2f +- %.2f%%  C:", t,
               omp_get_wtime() - t0, 100 * res[t - 1].mean,
               100 * res[t - 1].std);
        for (int k = 0; k < res[t - 1].folds; k++)
            printf(" %g", res[t - 1].best_c[k]);
        printf("\n");
    }
    printf("identical: %s\n",
           memcmp(&res[0], &res[1], sizeof res[0]) ? "no" : "yes");
    bsg_graphcl_free(&m);
    bst_tu_free(&d);
    free(emb);
    return 0;
}
