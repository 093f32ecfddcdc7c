#ifndef SPLITD_CURL_H
#define SPLITD_CURL_H
#include <curl/curl.h>

/* curl_easy_setopt is variadic, which Swift cannot call: one typed wrapper per argument kind. */
CURLcode splitd_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode splitd_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode splitd_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode splitd_curl_setopt_write_function(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode splitd_curl_setopt_header_function(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode splitd_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLMcode splitd_curl_multi_setopt_long(CURLM *multi, CURLMoption option, long value);

#endif
