/* The one rule for prefetch helpers in the kernels: declare each with
 * MOM_PREFETCH_HELPER.
 *
 * A function whose body is prefetches and nothing else has, to GCC 12's
 * IPA modref analysis, no side effects, and a call to such a function
 * that was not inlined is deleted, without a warning. That is how every
 * read prefetch of conv_avx512.c (a loop of them in a helper) and most of
 * vec_scan.c's were lost: objdump showed no prefetcht0 / prfm in those
 * kernels, and -fno-ipa-modref brought them back. always_inline puts the
 * prefetches into the loop before that analysis runs. tests/prefetch_check.py
 * counts them in the built library, so a third loss does not go unseen. */
#ifndef MOM_PREFETCH_H
#define MOM_PREFETCH_H

#define MOM_PREFETCH_HELPER static inline __attribute__((always_inline))

#endif
