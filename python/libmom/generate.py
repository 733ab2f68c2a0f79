"""Model.generate: prompt -> State prefill -> Sampler draws -> State steps,
the loop of `mom generate` (tools/cmd_generate.c) without its files."""
import numpy as np

from . import _arrays as arr
from .errors import ERR_INVALID_ARG, Error


def generate(model, prompt_tokens, prompt_modality, max_tokens, seed, temperature, top_k, top_p, image_tokens,
             speech_tokens, stop_at_eos, token_modality):
    """See Model.generate."""
    tok = arr.integers(prompt_tokens, np.int32, "prompt_tokens")
    arr.expect_ndim(tok, (1, 2), "prompt_tokens", "(T,) for one prompt or (n, T)")
    mod = arr.modality_like(prompt_modality, tok, "prompt_modality")
    rows, mrows = (tok.reshape(1, -1), mod.reshape(1, -1)) if tok.ndim == 1 else (tok, mod)
    n, T = rows.shape
    if n == 0 or T == 0:
        raise Error(ERR_INVALID_ARG, f"prompt_tokens: shape {tok.shape} holds no token: a prompt needs one at least")
    max_tokens = arr.as_int(max_tokens, "max_tokens", 1, 1 << 24)
    laid_out = model.vocab_layout is not None
    # The layout's ids (a pretrained vocabulary places them); PAD is what a
    # finished sequence is fed while the others go on.
    tok_eos, tok_pad = model.special_token("eos"), model.special_token("pad")
    stop = laid_out if stop_at_eos is None else bool(stop_at_eos)
    table = None
    if token_modality is not None:
        table = arr.integers(token_modality, np.uint8, "token_modality", allow_bool=True)
        if table.shape != (model.vocab_size,):
            raise Error(ERR_INVALID_ARG, f"token_modality: shape {table.shape} is not (vocab_size,) = "
                        f"({model.vocab_size},)")
    # Without a layout or a table a sampled token keeps its row's last modality.
    fallback = mrows[:, -1].copy()
    out = np.full((n, max_tokens), -1, dtype=np.int32)
    done = np.zeros(n, dtype=bool)
    next_tok = np.zeros(n, dtype=np.int32)
    next_mod = np.zeros(n, dtype=np.uint8)
    with model.state(n, T + max_tokens) as st, \
            model.sampler(n, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                          image_tokens=image_tokens, speech_tokens=speech_tokens) as sp:
        logits = st.prefill(0, rows, mrows)
        for k in range(n):
            sp.accept(k, rows[k])
        for step in range(max_tokens):
            for k in range(n):
                if done[k]:
                    next_tok[k], next_mod[k] = (tok_pad if laid_out else 0), 0
                    continue
                t = sp.sample(k, logits[k])
                sp.accept(k, t)
                out[k, step] = next_tok[k] = t
                if table is not None:
                    next_mod[k] = table[t]
                elif laid_out:
                    next_mod[k] = max(model.token_modality(t), 0)
                else:
                    next_mod[k] = fallback[k]
                done[k] = stop and t == tok_eos
            # As mom generate: no step after the last draw.
            if done.all() or step + 1 == max_tokens:
                break
            logits = st.step(next_tok, next_mod)
    if tok.ndim == 2:
        return out
    row = out[0]
    return row[:np.argmax(row == tok_eos) + 1].copy() if done[0] else row
