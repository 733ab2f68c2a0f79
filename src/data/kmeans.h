/* k-means for the codebooks of the discrete image and speech tokenizers
 * (k-means++ seeding, then Lloyd iterations). Deterministic for a seed.
 * Internal. */
#ifndef MOM_KMEANS_H
#define MOM_KMEANS_H

#include <stddef.h>
#include <stdint.h>

/* Clusters the n rows of X (n x dim, row-major) into k centroids (k x dim,
 * written). With n < k, the missing centroids repeat rows of X. Returns 0,
 * or -1 when out of memory or n == 0. */
int mom_kmeans(const float *X, size_t n, int dim, int k, int iters, uint64_t seed, float *centroids);

/* Index of the centroid nearest to x (squared distance; ties: lowest index). */
int mom_kmeans_nearest(const float *centroids, int k, int dim, const float *x);

#endif
