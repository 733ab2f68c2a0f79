/* The vocabulary layout's checks, for those who accept one from outside
 * (a config, a dataset write). Internal. */
#ifndef MOM_VOCAB_H
#define MOM_VOCAB_H

#include "ctx.h"
#include "mom.h"

/* MOM_OK, or `bad` naming the part of v that is wrong (what: the
 * message's prefix). Sizes against a vocab_size are the caller's check. */
mom_status vocab_layout_check(mom_ctx *ctx, const char *what, const mom_vocab_layout *v, mom_status bad);
/* "bos", "eos", "boi", "eoi", "bosp", "eosp", "pad": config JSON's keys. */
const char *vocab_special_name(int which);

#endif
