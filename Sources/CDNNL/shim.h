// oneDNN's C API (Debian `libdnnl-dev`, oneDNN 2.6); Latent's kernels call it from C (CLatentKernels).
#include <oneapi/dnnl/dnnl.h>
