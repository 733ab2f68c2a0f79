/* The built-in dataset of `mom train`: real data (letters and digits drawn
 * from Debian's fonts, their captions, the captions spoken by espeak-ng and
 * flite), built by
 * tools/scripts/build_default_data.py and compiled into the mom binary. */
#ifndef MOM_TOOLS_BUILTIN_DATA_H
#define MOM_TOOLS_BUILTIN_DATA_H

#include "mom.h"

/* "three" (text, image, speech; the default), "chameleon" (text, image
 * codes) or "transfusion" (text, continuous image patches). */
int builtin_setting_known(const char *setting);
/* Writes DIR/train.bin, DIR/val.bin and the codebooks DIR/vq.safetensors
 * (not for "transfusion": its images are patches) and
 * DIR/units.safetensors (for "three" only), each through a temporary file
 * and a rename; train.bin last. */
mom_status builtin_data_install(mom_ctx *ctx, const char *setting, const char *dir);

#endif
