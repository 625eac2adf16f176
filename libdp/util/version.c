#include "util.h"

#define DPI_STR_(x) #x
#define DPI_STR(x) DPI_STR_(x)

DP_API unsigned dp_version(void) { return DP_VERSION_NUMBER; }

DP_API const char *dp_version_string(void) {
    return DPI_STR(DP_VERSION_MAJOR) "." DPI_STR(DP_VERSION_MINOR) "." DPI_STR(DP_VERSION_PATCH);
}

DP_API const char *dp_build_info(void) {
    return "backends=onednn,reference precisions=fp32,bf16,int8 runner=threads"
#ifdef DP_HAVE_MPI
           ",mpi"
#endif
#ifdef DP_HAVE_MICROHTTPD
           " sinks=console,csv,jsonl,prometheus,callback"
#else
           " sinks=console,csv,jsonl,callback"
#endif
        ;
}
