// zlib (Debian `zlib1g-dev`) for LatentTokenizer's gzip-compressed BPE merge list.
#include <zlib.h>
