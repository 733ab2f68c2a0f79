/* The Vulkan backend's ops: one function per member of the op table
 * (src/backend.h), same arguments, recorded into the open command buffer
 * (vk_internal.h). vk_backend.c puts them into the table.
 *   ops_elementwise.c: embedding, RMSNorm, bias, gather, softplus,
 *                      cross-entropy, MSE, gradient norm and clip, AdamW
 *   ops_matmul.c:      the three projection forms
 *   ops_time.c:        conv1d + SiLU and the selective scan (along time) */
#ifndef MOM_VK_OPS_H
#define MOM_VK_OPS_H

#include "backend.h"

int vk_mm_fwd(backend *be, int M, int N, int K, bv A, int lda, bv W, bv C, int ldc, int acc);
int vk_mm_bwd_data(backend *be, int M, int N, int K, bv dC, int lddc, bv W, bv dA, int ldda, int acc);
int vk_mm_bwd_weight(backend *be, int M, int N, int K, bv dC, int lddc, bv A, int lda, bv dW);

void vk_gather_rows(backend *be, int rows, int cols, bv idx, bv src, int ld_src, bv dst);
void vk_add_bias(backend *be, int rows, int cols, bv bias, bv C, int ldc);
void vk_bias_grad(backend *be, int rows, int cols, bv dC, int lddc, bv dbias);
void vk_embed_fwd(backend *be, int T, int D, bv tok, bv table, bv out);
void vk_embed_bwd(backend *be, int T, int D, bv tok, bv dout, bv dtable);
void vk_rmsnorm_fwd(backend *be, int T, int D, bv x, bv w, float eps, bv out, bv rstd);
void vk_rmsnorm_bwd(backend *be, int T, int D, bv x, bv w, bv rstd, bv dout, bv dx, bv dw);
void vk_softplus_fwd(backend *be, size_t n, bv x, bv y);
void vk_softplus_bwd(backend *be, size_t n, bv x, bv dy, bv dx);
void vk_xent(backend *be, int T, int V, bv logits, bv targets, float scale, bv loss);
void vk_mse(backend *be, int rows, int cols, bv pred, bv target, float scale, bv loss);
void vk_clip_scale(backend *be, size_t n, bv g, float clip, bv out);
void vk_adamw_scaled(backend *be, size_t n, bv p, bv g, bv m, bv v, bv scale, float lr, float b1, float b2,
                     float eps, float wd, int64_t step);

void vk_conv_silu_fwd(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w, bv b, bv hist, bv out);
void vk_conv_silu_bwd(backend *be, int B, int L, int D, int K, bv rows, bv x, int ldx, bv w, bv b, bv dout, bv dx,
                      int lddx, bv dw, bv db);
void vk_scan_fwd(backend *be, const be_scan *a, bv y);
void vk_scan_bwd(backend *be, const be_scan *a, const be_scan_grads *g);
size_t vk_scan_work_elems(backend *be, const be_scan *a, int n_threads);
size_t vk_scan_states_elems(backend *be, const be_scan *a);

#endif
