#ifndef SPLITD_CCURL_SHIM_H
#define SPLITD_CCURL_SHIM_H
#include <curl/curl.h>
#endif
