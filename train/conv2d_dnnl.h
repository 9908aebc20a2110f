/*
 * conv2d_dnnl.h — the forward convolution and the backward data pass
 * (dx) through oneDNN (private to train/conv2d.c).  Built with oneDNN
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
 * is the same for any thread count (conv2d_dnnl.c).  The weight gradient
 * stays on the own path: oneDNN's reduces over the batch across threads.
 * bst_conv2d_dnnl_free releases c->dnnl (safe when NULL).
 */
#ifndef BST_CONV2D_DNNL_H
#define BST_CONV2D_DNNL_H

#include "engine.h"

int bst_conv2d_dnnl_forward(bst_conv2d *c, const float *x, float *y, int N,
                            int H, int W, int Ho, int Wo);
int bst_conv2d_dnnl_backward_data(bst_conv2d *c, const float *dy, float *dx,
                                  int N, int H, int W, int Ho, int Wo);
void bst_conv2d_dnnl_free(bst_conv2d *c);

#endif
