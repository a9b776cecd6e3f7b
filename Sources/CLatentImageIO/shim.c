#include "CLatentImageIO.h"
int latent_image_io_placeholder(void) { return 0; }
