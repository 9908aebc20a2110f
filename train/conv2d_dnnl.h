/*
 * conv2d_dnnl.h — the forward convolution, the backward data pass (dx)
 * and the weight gradient through oneDNN (private to train/conv2d.c).  Built with oneDNN
 * when CMake's BS_DNNL is on and Debian's libdnnl-dev is found
 * (BST_HAVE_DNNL); otherwise both always decline and conv2d.c runs its
 * own im2col + GEMM path.
 *
 * bst_conv2d_dnnl_forward: y (N, cout, Ho, Wo) = conv(x (N, cin, H, W)) as
 * bst_conv2d_forward.  bst_conv2d_dnnl_backward_data: dx (N, cin, H, W) =
 * the adjoint of the convolution applied to dy (N, cout, Ho, Wo), as
 * bst_conv2d_backward's dx (overwritten, not accumulated).  Both return 1
 * when oneDNN computed the output, 0 when it declines (no oneDNN, a bias,
 * or oneDNN has no kernel / no memory: the caller's path then runs), -1
 * when a call into oneDNN failed half-way (output undefined).  The
 * primitives are kept in c->dnnl for the next call of the same shape.
 * Each output image depends on its own input image only, and the result
 * is the same for any thread count (conv2d_dnnl.c).
 *
 * bst_conv2d_dnnl_weights: part[p] (cout, cin, k, k), p < nparts, = the
 * weight gradient of images [p N / nparts, (p + 1) N / nparts) of x and
 * dy, the parts of bst_conv2d_backward; each part on one thread with a
 * primitive planned for one thread, so the bits depend on N and nparts
 * only, never on the thread count.  dy_ready: bst_conv2d_dnnl_backward_data
 * has just run on this very dy (same N, H, W), so the parts read their dy
 * from its reorder into the kernel's layout where that layout is theirs
 * too, instead of converting dy again.  Returns as the two above.
 * bst_conv2d_dnnl_free releases c->dnnl (safe when NULL).
 */
#ifndef BST_CONV2D_DNNL_H
#define BST_CONV2D_DNNL_H

#include "engine.h"

int bst_conv2d_dnnl_forward(bst_conv2d *c, const float *x, float *y, int N,
                            int H, int W, int Ho, int Wo);
int bst_conv2d_dnnl_backward_data(bst_conv2d *c, const float *dy, float *dx,
                                  int N, int H, int W, int Ho, int Wo);
int bst_conv2d_dnnl_weights(bst_conv2d *c, const float *x, const float *dy,
                            int N, int H, int W, int Ho, int Wo, int nparts,
                            int dy_ready, float *part);
void bst_conv2d_dnnl_free(bst_conv2d *c);

#endif
