#ifndef SPLITD_CLIBPQ_SHIM_H
#define SPLITD_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
