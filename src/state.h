/* The inference state behind mom_state (src/state.c), for src/infer.c. */
#ifndef MOM_STATE_H
#define MOM_STATE_H

#include "model.h"

/* Most sequences in one state (rows of one step). */
#define MOM_STATE_MAX_SEQ 4096

struct mom_state {
    mom_model *m;
    int n_seq;
    int64_t max_tokens; /* 0: no limit */
    int broken;         /* a backend failure left it half fed: see mom.h */
    int64_t *len;       /* tokens fed to each sequence */
    be_buf *buf;        /* see state.c for the layout */
};

/* Layer `layer`'s state of the sequences from seq0 on (as many as a forward runs). */
layer_carry state_carry(const mom_state *st, int layer, int seq0);

#endif
