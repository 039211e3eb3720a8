// getsockopt(SO_ORIGINAL_DST) for Node: where a connection redirected by iptables (nat REDIRECT /
// DNAT) was going before netfilter rewrote its destination. Node-API only, so one build serves
// every Node version (the headers may come from an older Node than the one that loads it).
//
//   originalDst(fd: number, family: 4 | 6): { address: string, port: number } | null
//   null: the kernel has no conntrack entry for it (ENOENT), so nothing rewrote it. Other failures
//   throw an Error whose `code` is the errno name.
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

// <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h> define both as 80; they drag in
// kernel UAPI headers that may clash with glibc's, so the two constants are spelled out here.
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static const char *errno_code(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EBADF: return "EBADF";
    case ENOTSOCK: return "ENOTSOCK";
    case EINVAL: return "EINVAL";
    case EPERM: return "EPERM";
    case ENOTCONN: return "ENOTCONN";
    default: return "EUNKNOWN";
  }
}

static napi_value fail_errno(napi_env env, int err) {
  if (err == ENOENT) {
    // Common (every connection nobody redirected, when conntrack is idle): no exception for it.
    napi_value null_value;
    return napi_get_null(env, &null_value) == napi_ok ? null_value : NULL;
  }
  char message[160];
  snprintf(message, sizeof message, "getsockopt(SO_ORIGINAL_DST): %s", strerror(err));
  napi_throw_error(env, errno_code(err), message);
  return NULL;
}

static napi_value result_object(napi_env env, const char *address, unsigned port) {
  napi_value obj, addr, p;
  if (napi_create_object(env, &obj) != napi_ok) return NULL;
  if (napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &addr) != napi_ok) return NULL;
  if (napi_create_uint32(env, port, &p) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, "address", addr) != napi_ok) return NULL;
  if (napi_set_named_property(env, obj, "port", p) != napi_ok) return NULL;
  return obj;
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  int32_t fd = -1, family = 4;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      napi_get_value_int32(env, argv[1], &family) != napi_ok || fd < 0 ||
      (family != 4 && family != 6)) {
    napi_throw_type_error(env, "EINVAL", "originalDst(fd >= 0, family 4 | 6)");
    return NULL;
  }
  char text[INET6_ADDRSTRLEN];
  if (family == 4) {
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &sa, &len) != 0) return fail_errno(env, errno);
    if (inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text) == NULL) return fail_errno(env, errno);
    return result_object(env, text, ntohs(sa.sin_port));
  }
  struct sockaddr_in6 sa6;
  socklen_t len6 = sizeof sa6;
  memset(&sa6, 0, sizeof sa6);
  if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &sa6, &len6) != 0) return fail_errno(env, errno);
  if (inet_ntop(AF_INET6, &sa6.sin6_addr, text, sizeof text) == NULL) return fail_errno(env, errno);
  return result_object(env, text, ntohs(sa6.sin6_port));
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  if (napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn) != napi_ok)
    return NULL;
  if (napi_set_named_property(env, exports, "originalDst", fn) != napi_ok) return NULL;
  return exports;
}
