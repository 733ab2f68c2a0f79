"""libmom.Losses: the losses of one batch (mom_losses), as a dict that
float() also accepts."""
import math


class Losses(dict):
    """The losses of a batch: what train_step, loss, backward and evaluate return.

    A dict (so json.dumps(out) logs it as it is) with the keys
      "loss":        the mean loss over every target (a float);
      "by_modality": one entry per modality of the model: the mean loss over
                     the targets of that modality, or None when the batch had none;
      "count":       the targets of each modality (ints);
      "n_targets":   all targets;
      "grad_norm":   train_step only: the gradient norm before clipping; else None.
    The same values are attributes (out.loss, out.by_modality ...), and
    float(out) is out["loss"], so float(m.loss(tok, mod)) works.
    """

    def __init__(self, c_losses, n_modalities, grad_norm=None):
        super().__init__(
            loss=float(c_losses.loss),
            by_modality=[None if math.isnan(v) else float(v) for v in c_losses.by_modality[:n_modalities]],
            count=[int(c) for c in c_losses.count[:n_modalities]],
            n_targets=int(c_losses.n_targets),
            grad_norm=None if grad_norm is None else float(grad_norm))

    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key) from None

    def __float__(self):
        return float(self["loss"])

    def __repr__(self):
        by = ", ".join("None" if v is None else f"{v:.4f}" for v in self["by_modality"])
        norm = "" if self["grad_norm"] is None else f", grad_norm={self['grad_norm']:.4f}"
        return f"Losses(loss={self['loss']:.4f}, by_modality=[{by}], n_targets={self['n_targets']}{norm})"
